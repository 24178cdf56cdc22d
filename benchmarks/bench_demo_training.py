"""Time to accuracy of the demo recipe: seconds and epochs until the demo's model first reaches a val top-1.

    .venv/bin/python benchmarks/bench_demo_training.py [--seeds 1,2,3] [--target 0.9] [--epochs N]

Trains training/demo_clarity.yaml on the demo's own sample set (edgeclas/resources/demo.yaml: task,
number of images, seed) once per seed (Global.seed: initialisation, order, augmentation, dropout) and
prints, per run, the first epoch whose val top-1 reaches the target, the wall seconds until then
(training and evaluation, from metrics.jsonl), the best val top-1 and the training throughput; then
the median over the seeds. The machine's load is printed first: on a shared 2-core machine the
seconds vary with it, the epochs do not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="42", help="comma-separated Global.seed values (default: the recipe's 42)")
    ap.add_argument("--target", type=float, default=0.9, help="val top-1 to reach")
    ap.add_argument("--epochs", type=int, default=None, help="override Global.epochs")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    import yaml

    from edgeclas.data import sample
    from edgeclas.train import train

    demo = yaml.safe_load((ROOT / "edgeclas" / "resources" / "demo.yaml").read_text())["stages"]["data"]
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"recipe: training/demo_clarity.yaml on `data sample --task {demo['task']} --num {demo['num']} "
          f"--seed {demo['seed']}`, target val top-1 {args.target}")
    rows = []
    with tempfile.TemporaryDirectory() as td:
        data = sample(demo["task"], Path(td) / "data", num=demo["num"], seed=demo["seed"])
        for seed in [int(s) for s in args.seeds.split(",")]:
            over = [f"Global.dataset_dir={data.root}", f"Global.output_dir={Path(td) / f'run{seed}'}",
                    f"Global.seed={seed}"] + ([f"Global.epochs={args.epochs}"] if args.epochs else [])
            t0 = time.perf_counter()
            r = train(ROOT / "training" / "demo_clarity.yaml", over)
            wall = time.perf_counter() - t0
            recs = [json.loads(x) for x in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
            hit = next((x for x in recs if x.get("eval_top1", 0) >= args.target), None)
            best = max(x.get("eval_top1", 0) for x in recs)
            rows.append((seed, hit, best, wall, r.images_per_sec))
    print(f"{'seed':>6} {'epoch to target':>16} {'s to target':>12} {'best top-1':>11} {'s total':>8} {'train img/s':>12}")
    for seed, hit, best, wall, ips in rows:
        epoch, secs = (str(hit["epoch"]), f"{hit['elapsed_s']:.1f}") if hit else ("-", "-")
        print(f"{seed:>6} {epoch:>16} {secs:>12} {best:>11.4f} {wall:>8.1f} {ips:>12.1f}")
    reached = [h for _, h, _, _, _ in rows if h]
    print(f"reached {args.target} in {len(reached)} of {len(rows)} run(s)"
          + (f"; median {statistics.median(h['epoch'] for h in reached)} epochs, "
             f"{statistics.median(h['elapsed_s'] for h in reached):.1f} s" if reached else ""))
    return 0 if len(reached) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
