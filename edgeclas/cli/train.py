"""``edgeclas train`` and ``edgeclas eval``."""

from __future__ import annotations

import click

from ..fsutil import json_text

from ._app import cli, console, handle_errors, no_verify_option


def _fmt(metrics: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()) or "-"


@cli.command()
@click.option("-c", "--config", "config", required=True, type=click.Path(dir_okay=False),
              help="Training recipe (PaddleClas-style YAML), e.g. training/demo_clarity.yaml.")
@click.option("-o", "--override", "overrides", multiple=True, metavar="KEY.SUB=VALUE",
              help="Override a recipe value, e.g. -o Global.epochs=5 -o Arch.name=PPLCNet_x0_5 (repeatable).")
@click.option("--pretrained", metavar="FILE|NAME",
              help="Start from these weights: a .pdparams, or a PaddleClas name downloaded once into the cache "
                   "(PPLCNet_x1_0, PPLCNet_x1_0_ssld, MobileNetV3_small_x0_35_ssld, …); same as -o Arch.pretrained=….")
@click.option("--resume", is_flag=True, help="Continue the run in Global.output_dir from its latest checkpoint.")
@click.option("--nproc", type=int, default=1, show_default=True,
              help="CPU training processes (paddle.distributed.launch, gloo); the recipe's batch size is per process.")
@click.option("--gpus", metavar="0,1,…", help="Train on these GPUs, one process each (paddle.distributed.launch, NCCL).")
@click.option("--ips", metavar="HOST,HOST",
              help="Hosts of a multi-machine run, passed to paddle.distributed.launch: run the same command on each.")
@handle_errors
def train(config: str, overrides: tuple[str, ...], pretrained: str | None, resume: bool, nproc: int,
          gpus: str | None, ips: str | None) -> None:
    """Train a classifier; writes RUN_DIR/latest, RUN_DIR/best, metrics.jsonl and manifest.json.

    \b
      edgeclas train -c training/demo_clarity.yaml
      edgeclas train -c training/demo_clarity.yaml --nproc 2      (two CPU processes)
      edgeclas train -c training/pulc_clarity.yaml --gpus 0,1,2,3
    """
    from ..train import train as run

    extra = [f"Arch.pretrained={pretrained}"] if pretrained else []
    r = run(config, list(overrides) + extra, resume=resume, nproc=nproc, gpus=gpus, ips=ips)
    con = console()
    if r.pretrained is not None:
        p = r.pretrained
        con.print(f"pretrained: {p.summary()}")
        for key, want, got in p.mismatched:
            con.print(f"  shape mismatch {key}: model {want}, file {got}"
                      + ("  (classifier re-initialised)" if key in p.reinitialized else ""))
        for name in ("missing", "unexpected"):
            keys = getattr(p, name)
            if keys:
                con.print(f"  {name}: {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}")
    con.print(f"trained {r.epochs} epoch{'s' if r.epochs != 1 else ''} at {r.images_per_sec:.1f} img/s")
    con.print(f"best:   {r.best}  ({_fmt(r.best_metrics)})")
    con.print(f"latest: {r.latest}  ({_fmt(r.last_metrics)})")


@cli.command("eval")
@click.argument("checkpoint", type=click.Path(file_okay=False))
@click.option("--list", "list_file", type=click.Path(dir_okay=False),
              help="List file to evaluate instead of the checkpoint's val list.")
@click.option("--root", type=click.Path(file_okay=False), help="Image root for --list (default: the dataset root).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@no_verify_option
@handle_errors
def eval_(checkpoint: str, list_file: str | None, root: str | None, as_json: bool, no_verify: bool) -> None:
    """Evaluate a checkpoint directory (RUN_DIR/best or RUN_DIR/latest) with the deployed preprocessing."""
    from ..train import evaluate

    metrics = evaluate(checkpoint, list_file, root=root, verify=not no_verify)
    if as_json:
        click.echo(json_text(metrics))
        return
    con = console()
    con.print(_fmt(metrics))
    for key in (k for k in metrics if k.startswith("tpr@fpr=")):
        fpr = key.split("=", 1)[1]
        con.print(f"TPR {metrics[key]:.4f} at FPR ≤ {fpr} (measured {metrics['fpr@fpr=' + fpr]:.4f}): positive when "
                  f"score > {metrics['threshold@fpr=' + fpr]:.6g}; record it with "
                  f"`edgeclas export {checkpoint} --out MODEL_DIR --threshold auto`")
