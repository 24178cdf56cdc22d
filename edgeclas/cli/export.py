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
@click.option("--threshold", default=None, metavar="auto|VALUE",
              help="Decision threshold recorded in the manifest (PaddleClas's Infer.PostProcess.threshold): a number "
                   "in 0..1, or 'auto' for the threshold that reached the recipe's TPR at FPR (binary models). "
                   "Default: the recipe's Infer.PostProcess.")
@no_verify_option
@handle_errors
def export(checkpoint: Path, out: Path, formats: str, name: str | None, threshold: str | None,
           no_verify: bool) -> None:
    """Export a training checkpoint (RUN_DIR/best or RUN_DIR/latest) as Paddle inference models.

    The network gets a softmax head (a sigmoid per label for multi-label models) and a dynamic batch
    input [N, 3, H, W]; MODEL_DIR/manifest.json records architecture, input size, preprocessing, labels,
    post-processing, Paddle version and every file's sha256.
    """
    from ..export import export as run_export
    from ..model_dir import ModelDir

    model_dir = run_export(checkpoint, out, formats=parse_csv(formats), name=name, threshold=threshold,
                           verify=not no_verify)
    post = ModelDir.load(model_dir).postprocess
    thr = f", threshold {post.threshold:.6g}" if post.threshold is not None else ""
    click.echo(f"exported {checkpoint} -> {model_dir} ({formats}; post-processing {post.name}{thr})")
