"""Host throughput: predict images/s per engine, side by side, next to training images/s.

    .venv/bin/python benchmarks/bench_host.py [--model MODEL_DIR] [--batch 1,8] [--threads 1,2]

Without --model it uses ./edgeclas-demo/model (made by `make demo`). Each cell: warm-up runs, then
as many timed forward passes of one preprocessed batch as fit in --seconds; the median pass time
gives images/s. Engines that cannot run here are listed with the reason, not skipped silently.
Training images/s comes from benchmarks/bench_train.py when that script is present.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _time_passes(predictor, batch: np.ndarray, seconds: float, warmup: int) -> list[float]:
    for _ in range(warmup):
        predictor(batch)
    samples: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 3:
        t0 = time.perf_counter()
        predictor(batch)
        samples.append(time.perf_counter() - t0)
    return samples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "edgeclas-demo" / "model")
    ap.add_argument("--images", type=Path, default=None, help="image file or folder (default: the model's val images)")
    ap.add_argument("--batch", default="1,8", help="batch sizes, comma-separated")
    ap.add_argument("--threads", default="1,2", help="engine CPU threads, comma-separated")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per cell")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-train", action="store_true", help="skip running benchmarks/bench_train.py")
    args = ap.parse_args(argv)

    from edgeclas import engines
    from edgeclas.errors import EdgeclasError
    from edgeclas.model_dir import ModelDir
    from edgeclas.preprocess import list_images, load_batch
    from edgeclas.verify import default_images

    try:
        model = ModelDir.load(args.model)
        batches = _csv_ints(args.batch)
        paths = list_images(args.images, limit=max(batches)) if args.images else default_images(model, max(batches))
    except EdgeclasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    images = load_batch(paths, model.preprocess)
    # repeat the images to fill the largest batch
    images = images[np.arange(max(batches)) % len(images)]

    print(f"model {model.path} ({model.arch}, input {'x'.join(map(str, model.input_size))}); "
          f"{len(paths)} images; cpu cores {os.cpu_count()}; {args.seconds:g} s per cell, warm-up {args.warmup}")
    avail = engines.available(model)
    for name, (ok, why) in avail.items():
        print(f"  engine {name:12s} {'ok' if ok else 'unavailable'}: {why}")

    rows = []
    for threads in _csv_ints(args.threads):
        for bs in batches:
            for name, (ok, _) in avail.items():
                if not ok:
                    continue
                try:
                    predictor = engines.load(name, model, threads=threads)
                    samples = _time_passes(predictor, images[:bs], args.seconds, args.warmup)
                except EdgeclasError as e:
                    print(f"  {name} threads={threads} batch={bs}: failed: {e.message}")
                    continue
                med = statistics.median(samples)
                rows.append((name, threads, bs, med * 1e3, bs / med, len(samples)))

    print()
    print(f"{'engine':12s} {'threads':>7s} {'batch':>5s} {'ms/batch':>9s} {'img/s':>8s} {'vs paddle':>9s} {'passes':>6s}")
    ref = {(t, b): ips for n, t, b, _, ips, _ in rows if n == "paddle"}
    for name, threads, bs, ms, ips, n in rows:
        ratio = ips / ref[(threads, bs)] if (threads, bs) in ref else float("nan")
        print(f"{name:12s} {threads:7d} {bs:5d} {ms:9.2f} {ips:8.1f} {ratio:8.2f}x {n:6d}")

    bench_train = ROOT / "benchmarks" / "bench_train.py"
    if args.no_train:
        return 0
    if not bench_train.is_file():
        print("\ntraining img/s: benchmarks/bench_train.py not present")
        return 0
    print("\ntraining (benchmarks/bench_train.py):", flush=True)
    return subprocess.run([sys.executable, str(bench_train)], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
