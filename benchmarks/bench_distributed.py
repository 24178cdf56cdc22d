"""Training images/s in 1 and 2 processes (`edgeclas train --nproc`), side by side in one run.

    .venv/bin/python benchmarks/bench_distributed.py [--arch PPLCNet_x0_25] [--size 64] [--batch 16] [--steps 8]

Each row trains the demo recipe on the sample clarity set for 2 epochs of ``--steps`` steps, without
evaluation, and reports the training rate of the second epoch (the first warms up) from
``metrics.jsonl`` (all processes' images) and the wall time of the whole command (launcher, process
start, data). Rows: one process with the batch; two processes with the same batch each (PaddleClas's
per-card batch: twice the images per step); two processes with half the batch each (the one process's
global batch). One process leaves cores idle while it decodes and augments in Python; a second
process fills them, at the price of an all-reduce per step.

Measured on the shared 2-core machine (load average 7-8 from other work), three runs: 1 process
98-115 img/s; 2 processes 130-180 img/s with the same batch each and 132-139 img/s with the same global
batch (1.15-1.57x); wall times 5 s against 10-15 s (the launcher and a second Paddle import).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _recipe import demo_recipe_for  # benchmarks/ is on sys.path when a script runs


def _run(work: Path, data: Path, name: str, arch: str, size: int, batch: int, steps: int, nproc: int):
    from edgeclas.train import train

    out = work / name
    resize = round(size * 73 / 64)
    t0 = time.perf_counter()
    recipe, _ = demo_recipe_for(arch, work / "recipes")
    train(recipe, [
        f"Global.dataset_dir={data}", f"Global.output_dir={out}", "Global.epochs=2", f"Global.steps_per_epoch={steps}",
        f"Global.image_shape=[3, {size}, {size}]", f"DataLoader.Train.sampler.batch_size={batch}",
        f"DataLoader.Train.dataset.transform_ops.1.RandCropImage.size={size}",
        f"DataLoader.Eval.dataset.transform_ops.1.ResizeImage.resize_short={resize}",
        f"DataLoader.Eval.dataset.transform_ops.2.CropImage.size={size}", "Global.eval_during_train=False",
    ], nproc=nproc)
    wall = time.perf_counter() - t0
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return last["images_per_sec"], wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="PPLCNet_x0_25")
    ap.add_argument("--size", type=int, default=64, help="input side (square)")
    ap.add_argument("--batch", type=int, default=16, help="batch of the one process")
    ap.add_argument("--steps", type=int, default=8, help="steps per epoch")
    args = ap.parse_args(argv)

    from edgeclas.data import sample

    print(f"training images/s, {args.arch} at {args.size}x{args.size}, 2 epochs x {args.steps} steps "
          f"(the second timed), cpu cores {os.cpu_count()}, paddle CPU, gloo", flush=True)
    rows = [("1 process", 1, args.batch), ("2 processes, same batch each", 2, args.batch),
            ("2 processes, same global batch", 2, max(1, args.batch // 2))]
    with tempfile.TemporaryDirectory(prefix="bench_distributed.") as tmp:
        work = Path(tmp)
        data = sample("clarity", work / "data", num=args.batch * args.steps * 2, seed=0).root
        results = [(*row, *_run(work, data, f"run{i}", args.arch, args.size, row[2], args.steps, row[1]))
                   for i, row in enumerate(rows)]
    base = results[0][3]
    print()
    print(f"{'':32s} {'procs':>5s} {'batch/proc':>10s} {'img/s':>8s} {'vs 1':>6s} {'wall s':>7s}")
    for name, nproc, batch, ips, wall in results:
        print(f"{name:32s} {nproc:5d} {batch:10d} {ips:8.1f} {ips / base:5.2f}x {wall:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
