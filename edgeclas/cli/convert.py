"""``edgeclas convert``: ONNX here; Paddle Lite ``.nb`` through ``edgeclas.lite.convert_nb``."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, handle_errors, no_verify_option


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--to", "to", required=True, type=click.Choice(["onnx", "nb"]), help="Target format.")
@click.option("--opset", default=13, show_default=True, type=int, help="ONNX opset (onnx only).")
@click.option("--target", default="arm", show_default=True, help="Paddle Lite target: arm, x86 or opencl (nb only).")
@click.option("--fp16", is_flag=True, help="FP16 kernels (ARMv8.2 phones; --target arm only) (nb only).")
@click.option("--quant", type=click.Choice(["int8", "int16"]), default=None,
              help="Weight-only dynamic quantization (nb only).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output .nb file (default: MODEL_DIR/nb/<name>_<target>.nb) (nb only).")
@click.option("--opt-bin", type=click.Path(path_type=Path), default=None,
              help="Paddle Lite opt executable (else $EDGECLAS_LITE_OPT, PATH, paddlelite, compat runtime) (nb only).")
@click.option("--build", type=click.Path(path_type=Path), default=None,
              help="Device build dir: refuse unless its Paddle Lite version matches opt's (nb only).")
@click.option("--print-ops", is_flag=True, help="List the model's ops and those the target lacks; convert nothing.")
@no_verify_option
@handle_errors
def convert(model_dir: Path, to: str, opset: int, target: str, fp16: bool, quant: str | None, out: Path | None,
            opt_bin: Path | None, build: Path | None, print_ops: bool, no_verify: bool) -> None:
    """Convert an exported model: --to onnx (paddle2onnx, dynamic batch) or --to nb (Paddle Lite opt).

    The file lands in MODEL_DIR and its manifest gains the format, so later stages find it.
    """
    if to == "onnx":
        from ..onnx_convert import convert_onnx

        path = convert_onnx(model_dir, opset=opset, verify=not no_verify)
    else:
        _nb(model_dir, target, fp16, quant, out, opt_bin, build, print_ops, not no_verify)
        return
    click.echo(f"converted {model_dir} -> {path}")


def _nb(model_dir: Path, target: str, fp16: bool, quant: str | None, out: Path | None, opt_bin: Path | None,
        build: Path | None, print_ops: bool, verify: bool) -> None:
    from .. import lite

    if print_ops:
        rep = lite.model_ops(model_dir, target, opt_bin=opt_bin)
        click.echo(f"ops of {model_dir} for --target {target} (support table from opt, {rep.route} route):")
        for op, n in rep.ops.items():
            mark = ("CRASHES opt" if op in rep.crashers else f"rewritten as {rep.rewrites[op]}" if op in rep.rewrites
                    else "unsupported" if op in rep.unsupported else "ok")
            click.echo(f"  {op:<28} x{n:<4} {mark}")
        for op, why in rep.crashers.items():
            click.echo(f"refused: {op}: {why}")
        if rep.unsupported:
            click.echo(f"unsupported on {target}: {', '.join(rep.unsupported)}")
        return
    res = lite.convert_nb(model_dir, target=target, fp16=fp16, quant=quant, out=out, opt_bin=opt_bin, build=build,
                          verify=verify)
    click.echo(f"converted {model_dir} -> {res.path} ({res.size / 1e6:.1f} MB, {res.seconds:.1f} s; opt {res.opt_version}, "
               f"{res.route} route, {res.precision}{', ' + res.quant if res.quant else ''})")
