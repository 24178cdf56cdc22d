"""``edgeclas sdk list|install|path``: the external tools and libraries builds need."""

from __future__ import annotations

import json

import click

from ._app import cli, console, handle_errors

_ARCH = click.option("--arch", default=None, help="host, armv7 or armv8 (default: every target the item supports).")
_OS = click.option("--os", "os_", type=click.Choice(["android", "linux"]), default=None,
                   help="Target OS (default: android for armv7/armv8, linux for host).")


@cli.group()
def sdk() -> None:
    """Find and install SDK pieces: NDK, ONNX Runtime, Paddle Lite libs, cross compilers, qemu.

    \b
    Resolution order for every item: flag -> environment variable -> edgeclas cache -> install.
      edgeclas sdk list
      edgeclas sdk install onnxruntime --arch armv8 --os linux
      edgeclas sdk path onnxruntime --arch host
    """


@sdk.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@handle_errors
def list_(as_json: bool) -> None:
    """Every item and target: version, found or missing, source, path (or how to get it)."""
    from rich.markup import escape
    from rich.table import Table

    from .. import sdk as sdk_mod

    rows = sdk_mod.doctor_rows()
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = Table(title="edgeclas sdk")
    for col in ("item", "version", "status", "source"):
        table.add_column(col, no_wrap=True)
    table.add_column("path / how to get it", overflow="fold")  # paths stay whole, to copy
    for r in rows:
        status = "[green]found[/]" if r.found else "[red]missing[/]"
        source = r.note.split(";")[0] if r.found else ""  # the rest of the note is in --json
        table.add_row(escape(r.name), escape(r.version), status, escape(source),
                      escape(r.where if r.found else r.how))
    console().print(table)


@sdk.command()
@click.argument("name")
@_ARCH
@_OS
@click.option("--archive", type=click.Path(exists=True, dir_okay=False),
              help="A file you downloaded yourself (ndk, paddle-lite): verified, then unpacked into the cache.")
@click.option("--sha256", "sha256", default=None, help="Expected sha256 of --archive (from the official download page).")
@handle_errors
def install(name: str, arch: str | None, os_: str | None, archive: str | None, sha256: str | None) -> None:
    """Install NAME into the edgeclas cache (pinned downloads, sha256-checked)."""
    from .. import sdk as sdk_mod

    options = {k: v for k, v in (("archive", archive), ("sha256", sha256)) if v}
    for item in sdk_mod.install(name, arch=arch, os=os_, **options):
        where = f" for {item.target}" if item.target else ""
        click.echo(f"{item.name} {item.version}{where}: {item.path} ({item.source})")


@sdk.command()
@click.argument("name")
@click.option("--arch", default="host", show_default=True, help="host, armv7 or armv8.")
@_OS
@handle_errors
def path(name: str, arch: str, os_: str | None) -> None:
    """Print where NAME is for the target (for scripts: exits 5 with a hint when missing)."""
    from .. import sdk as sdk_mod

    click.echo(str(sdk_mod.resolve(name, arch=arch, os=os_).path))
