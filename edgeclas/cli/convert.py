"""``edgeclas convert``: ONNX here; Paddle Lite ``.nb`` through ``edgeclas.lite.convert_nb``."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, handle_errors


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--to", "to", required=True, type=click.Choice(["onnx", "nb"]), help="Target format.")
@click.option("--opset", default=13, show_default=True, type=int, help="ONNX opset (onnx only).")
@click.option("--target", default="arm", show_default=True, help="Paddle Lite valid target, e.g. arm or x86 (nb only).")
@handle_errors
def convert(model_dir: Path, to: str, opset: int, target: str) -> None:
    """Convert an exported model: --to onnx (paddle2onnx, dynamic batch) or --to nb (Paddle Lite opt).

    The file lands in MODEL_DIR and its manifest gains the format, so later stages find it.
    """
    if to == "onnx":
        from ..onnx_convert import convert_onnx

        path = convert_onnx(model_dir, opset=opset)
    else:
        from ..lite import convert_nb

        path = convert_nb(model_dir, target=target)
    click.echo(f"converted {model_dir} -> {path}")
