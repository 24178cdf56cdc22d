"""``edgeclas doctor``."""

from __future__ import annotations

import json

import click

from ._app import cli, console, handle_errors


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@handle_errors
def doctor(as_json: bool) -> None:
    """Show every tool and library the pipeline uses: found or missing, where, and how to get it."""
    from dataclasses import asdict

    from rich.markup import escape
    from rich.table import Table

    from ..doctor import collect

    rows = collect()
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = Table(title="edgeclas doctor")
    for col in ("group", "tool", "status", "version", "where / how to get", "note"):
        table.add_column(col)
    for r in rows:
        status = "[green]found[/]" if r.found else "[red]missing[/]"
        table.add_row(*(escape(x) for x in (r.group, r.name)), status, *(escape(x) for x in (r.version, r.where if r.found else r.how, r.note)))
    console().print(table)
