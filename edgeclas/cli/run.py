"""``edgeclas run PIPELINE.yaml``: every stage from data to report, skipping what is up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._app import cli, console, handle_errors, parse_csv


def stage_printer() -> Any:
    """``on_stage`` callback: a line when a stage starts, and one with its outcome."""
    from rich.markup import escape

    con = console()
    marks = {"ran": "[green]done[/]", "skipped": "[dim]skipped[/]", "partial": "[yellow]partial[/]",
             "failed": "[red]failed[/]"}

    def on_stage(name: str, outcome: Any) -> None:
        if outcome is None:
            con.print(escape(name) if name.startswith(" ") or " " in name else f"[bold]» {name}[/]")
        else:
            con.print(f"  {marks.get(outcome.status, outcome.status)} {name} in {outcome.seconds:.1f} s: "
                      f"{escape(outcome.summary)}")

    return on_stage


def print_result(res: Any) -> None:
    con = console()
    total = sum(s.seconds for s in res.stages)
    con.print()
    if res.verify_table is not None:
        con.print(res.verify_table)
    con.print(f"[bold]where everything is[/] ({total:.0f} s this run): {res.out}")
    for sub in ("data", "runs", "model", "build", "bench", "report"):
        if (res.out / sub).exists():
            con.print(f"  {sub:7s} {res.out / sub}")
    for fmt, path in res.report.items():
        con.print(f"[bold]report ({fmt}):[/] {path}")


@cli.command("run")
@click.argument("pipeline", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "-o", default=None, type=click.Path(path_type=Path),
              help="Output folder (default: ./<pipeline name>). Re-running resumes / skips up-to-date stages.")
@click.option("--force", default="", metavar="STAGE[,STAGE…]", help="Run these stages even if up to date.")
@handle_errors
def run(pipeline: Path, out: Path | None, force: str) -> None:
    """Run a pipeline: data → train → export → convert → verify → build → deploy → bench → report."""
    from ..pipeline import run_pipeline

    print_result(run_pipeline(pipeline, out, force=tuple(parse_csv(force)), on_stage=stage_printer()))
