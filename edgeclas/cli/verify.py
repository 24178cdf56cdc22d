"""``edgeclas verify``."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, console, handle_errors, parse_csv


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--images", "-i", default=None, type=click.Path(path_type=Path),
              help="An image file or folder (default: the model's validation images).")
@click.option("--engines", default=None, help="Comma-separated engines (default: every one available here).")
@click.option("--tol", default=1e-4, show_default=True, type=float, help="Largest allowed max |Δprob| vs paddle.")
@click.option("--limit", default=16, show_default=True, type=int, help="At most this many images.")
@click.option("--threshold", default=None, type=float,
              help="Decision threshold for comparing answers (default: the model's recorded one).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def verify(model_dir: Path, images: Path | None, engines: str | None, tol: float, limit: int,
           threshold: float | None, as_json: bool) -> None:
    """Run every host engine on the same preprocessed batch and compare with Paddle Inference.

    Prints max |Δprob| and answer agreement per engine (top-1, or the classes a thresholded binary or
    multi-label model decides); exits non-zero (8) above --tol.
    """
    from ..verify import verify as run_verify

    report = run_verify(model_dir, images, engines=parse_csv(engines) or None, tol=tol, limit=limit,
                        threshold=threshold)
    if as_json:
        import dataclasses
        import json

        click.echo(json.dumps(dict(dataclasses.asdict(report), passed=report.passed), default=str, indent=2))
    else:
        console().print(report.table())
    report.raise_for_failures()
