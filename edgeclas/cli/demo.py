"""``edgeclas demo``."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, console, handle_errors


@cli.command()
@click.option("--out", default="edgeclas-demo", show_default=True, type=click.Path(path_type=Path),
              help="Folder for data/, runs/ and model/ (re-running replaces the demo's own outputs).")
@click.option("--num-images", default=120, show_default=True, type=int, help="Size of the sample clarity dataset.")
@click.option("--override", "-o", "overrides", multiple=True, metavar="Key.Sub=Value",
              help="Extra override for training/demo_clarity.yaml, e.g. Global.epochs=1 (repeatable).")
@handle_errors
def demo(out: Path, num_images: int, overrides: tuple[str, ...]) -> None:
    """Run the whole host pipeline on the embedded default and show where everything is.

    sample clarity data -> train PP-LCNet x0.25 at 64x64 briefly -> export (legacy + PIR) -> ONNX
    -> verify the engines agree -> predict a few validation images.
    """
    from ..demo import demo as run_demo
    from ..predict import format_paddleclas

    con = console()

    def on_step(name, result):
        if result is None:
            con.print(f"[bold]» {name}[/]")
        else:
            con.print(f"  [green]done[/] {name} in {result.seconds:.1f} s: {result.summary}")

    res = run_demo(out, num_images=num_images, overrides=list(overrides), on_step=on_step)
    con.print()
    con.print(res.verify.table())
    con.print()
    con.print("[bold]predictions[/] (paddle, top-2):")
    for p in res.predictions:
        click.echo(format_paddleclas(p))
    con.print()
    total = sum(s.seconds for s in res.steps)
    con.print(f"[bold]where everything is[/] (total {total:.0f} s):")
    for label, path in (("dataset", res.data), ("training run", res.run), ("model", res.model)):
        con.print(f"  {label:13s} {path}")
    con.print(f"  {'':13s} try: edgeclas predict {res.model} --images {res.data / 'images'}")
    res.verify.raise_for_failures()
