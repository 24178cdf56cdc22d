"""``edgeclas data prepare`` and ``edgeclas data sample``."""

from __future__ import annotations

import click

from ._app import cli, console, handle_errors


@cli.group()
def data() -> None:
    """Make dataset directories (lists, labels, manifest) for training."""


def _print(info) -> None:
    kind = "labels, multi-label" if info.multilabel else "classes"
    console().print(f"dataset [bold]{info.task}[/]: {info.train} train + {info.val} val images, "
                    f"{info.num_classes} {kind} ({', '.join(info.labels)})\n  written to {info.root}")
    if info.unlabelled:
        console().print(f"  + {info.unlabelled} unlabelled images in {info.distill_list.name} (for distillation)")


@data.command()
@click.argument("src", type=click.Path(file_okay=False, path_type=str))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Dataset directory to create.")
@click.option("--val-ratio", default=0.2, show_default=True, type=float, help="Fraction of each class for val.")
@click.option("--seed", default=0, show_default=True, type=int, help="Shuffle seed (same seed, same split).")
@handle_errors
def prepare(src: str, out: str, val_ratio: float, seed: int) -> None:
    """Turn SRC/<class>/<images> into OUT/images, train_list.txt, val_list.txt, label_list.txt."""
    from ..data import prepare as run

    _print(run(src, out, val_ratio=val_ratio, seed=seed))


@data.command()
@click.option("--task", default="clarity", show_default=True, type=click.Choice(["clarity", "quality"]),
              help="clarity: clear (0) vs blurred (1), PULC-style blur on scikit-image photographs; "
                   "quality: multi-label, independent defects blurred / noisy / dark.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Dataset directory to create.")
@click.option("--num", default=200, show_default=True, type=int,
              help="Number of images (clarity: half per class).")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same bytes.")
@click.option("--unlabelled", default=0, show_default=True, type=int,
              help="Extra images without a label, listed in train_list_for_distill.txt (SKL-UGI distillation).")
@handle_errors
def sample(task: str, out: str, num: int, seed: int, unlabelled: int) -> None:
    """Build the embedded sample dataset offline (small PNGs, deterministic)."""
    from ..data import sample as run

    _print(run(task, out, num=num, seed=seed, unlabelled=unlabelled))
