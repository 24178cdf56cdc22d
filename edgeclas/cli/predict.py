"""``edgeclas predict``."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, handle_errors, no_verify_option


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--images", "-i", required=True, type=click.Path(path_type=Path), help="An image file or a folder (searched recursively).")
@click.option("--engine", "-e", default="paddle", show_default=True, help="Host engine: paddle, onnxruntime, lite (see `edgeclas verify`).")
@click.option("--topk", "-k", default=None, type=int,
              help="Classes reported per image (Topk post-processing; default: the model's, else 5).")
@click.option("--threshold", default=None, type=float,
              help="Score threshold of the model's post-processing (ThreshOutput / MultiLabelThreshOutput: "
                   "the decision threshold; Topk: drop classes below it); default: the one recorded at export.")
@click.option("--batch-size", "-b", default=8, show_default=True, type=int, help="Images per forward pass.")
@click.option("--threads", "-t", default=None, type=click.IntRange(1), help="CPU threads of the engine (default 1).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image instead of PaddleClas's line format.")
@no_verify_option
@handle_errors
def predict(model_dir: Path, images: Path, engine: str, topk: int | None, threshold: float | None, batch_size: int,
            threads: int | None, as_json: bool, no_verify: bool) -> None:
    """Classify images with an exported model on a host engine.

    Output lines follow PaddleClas's predict_cls.py:
    `name:<TAB>class id(s): [..], score(s): [..], label_name(s): [..]`; a multi-label model lists every
    label above its threshold, a binary model with a threshold (ThreshOutput) the class it decides.
    """
    from ..predict import format_json, format_paddleclas, predict as run_predict

    fmt = format_json if as_json else format_paddleclas
    for p in run_predict(model_dir, images, engine=engine, topk_k=topk, batch_size=batch_size, threads=threads,
                         threshold=threshold, verify=not no_verify):
        click.echo(fmt(p))
