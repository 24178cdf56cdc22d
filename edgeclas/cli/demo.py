"""``edgeclas demo``: ``edgeclas run`` on the embedded default pipeline."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, handle_errors, parse_csv


@cli.command()
@click.option("--out", default="edgeclas-demo", show_default=True, type=click.Path(path_type=Path),
              help="Output folder (a re-run skips the stages that are up to date).")
@click.option("--num-images", default=None, type=int, help="Size of the sample clarity dataset (default 120).")
@click.option("--override", "-o", "overrides", multiple=True, metavar="Key.Sub=Value",
              help="Extra override for training/demo_clarity.yaml, e.g. Global.epochs=1 (repeatable).")
@click.option("--force", default="", metavar="STAGE[,STAGE…]", help="Run these stages even if up to date.")
@handle_errors
def demo(out: Path, num_images: int | None, overrides: tuple[str, ...], force: str) -> None:
    """Everything on the embedded default, ending with a benchmark report from an emulated armv8 device.

    sample clarity data -> train PP-LCNet x0.25 at 64x64 briefly -> export -> ONNX + .nb -> verify
    -> build for armv8 Linux -> deploy + bench (1 and 2 threads) on an emulated armv8 device -> report.
    """
    from ..demo import demo as run_demo
    from .run import print_result, stage_printer

    print_result(run_demo(out, num_images=num_images, overrides=overrides, force=tuple(parse_csv(force)),
                          on_stage=stage_printer()))
