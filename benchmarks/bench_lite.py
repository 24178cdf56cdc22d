"""Paddle Lite on the host: conversion time per target, worker start-up, then images/s next to the other engines.

    .venv/bin/python benchmarks/bench_lite.py [--model MODEL_DIR] [--targets arm,x86] [bench_host options...]

Converts MODEL_DIR (default ./edgeclas-demo/model, made by `make demo`) to .nb for each target
through the route edgeclas picks (printed), times it, times starting a lite worker (process start +
MobileConfig load), then runs benchmarks/bench_host.py, whose table has paddle, onnxruntime and lite
side by side with the ratio to paddle. Numbers on a shared 2-core machine are noisy: compare
ratios within one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "edgeclas-demo" / "model")
    ap.add_argument("--targets", default="arm,x86", help="targets to convert (x86 is needed for the lite engine)")
    ap.add_argument("--starts", type=int, default=3, help="worker start-ups to time")
    args, host_args = ap.parse_known_args(argv)

    from edgeclas.errors import EdgeclasError
    from edgeclas.lite import convert_nb, resolve_route
    from edgeclas.model_dir import ModelDir

    try:
        route = resolve_route()
        print(f"opt route: {route.kind} ({route.why}); Paddle Lite {route.version or '?'}")
        print(f"{'target':8s} {'convert s':>9s} {'.nb MB':>7s}")
        for target in [t for t in args.targets.split(",") if t]:
            res = convert_nb(args.model, target=target)
            print(f"{target:8s} {res.seconds:9.2f} {res.size / 1e6:7.2f}")
        from edgeclas.engines.lite import LitePredictor

        model = ModelDir.load(args.model)
        starts = []
        for _ in range(args.starts):
            t0 = time.perf_counter()
            LitePredictor(model).close()
            starts.append(time.perf_counter() - t0)
        print(f"lite worker start + load: median {statistics.median(starts) * 1e3:.0f} ms over {len(starts)}")
    except EdgeclasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(flush=True)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_host

    return bench_host.main(["--model", str(args.model), *host_args])


if __name__ == "__main__":
    sys.exit(main())
