"""``edgeclas export``."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, handle_errors, no_verify_option, parse_csv


@cli.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Model directory to write (replaced if it exists).")
@click.option("--format", "formats", default="legacy,pir", show_default=True,
              help="Comma-separated Paddle formats: legacy (.pdmodel, what Paddle Lite's opt reads), pir (.json).")
@click.option("--name", default=None, help="Model name recorded in the manifest (default: the --out folder name).")
@no_verify_option
@handle_errors
def export(checkpoint: Path, out: Path, formats: str, name: str | None, no_verify: bool) -> None:
    """Export a training checkpoint (RUN_DIR/best or RUN_DIR/latest) as Paddle inference models.

    The network gets a softmax head and a dynamic batch input [N, 3, H, W]; MODEL_DIR/manifest.json
    records architecture, input size, preprocessing, labels, Paddle version and every file's sha256.
    """
    from ..export import export as run_export

    model_dir = run_export(checkpoint, out, formats=parse_csv(formats), name=name, verify=not no_verify)
    click.echo(f"exported {checkpoint} -> {model_dir} ({formats})")
