"""Paddle Lite vs ONNX Runtime on the emulated armv8 device, and Paddle Lite library sizes (full vs tailored).

    .venv/bin/python benchmarks/bench_lite_device.py --model MODEL_DIR --images PATH \\
        --lite-build BUILD_DIR --ort-build BUILD_DIR [--repeats 20] [--threads 1,2]

BUILD_DIRs are ``edgeclas build --arch armv8 --os linux --engine lite|onnxruntime`` outputs. Starts a
private adb server and an emulated armv8 device (free loopback ports, stopped at the end), runs
``edgeclas bench`` with both engines at each thread count (the same images, warm-up, repeats and
accuracy check against host Paddle), and prints p50/mean per engine and thread count with the
Lite/ORT ratio side by side. Then the sizes of what each engine puts on a device: every Paddle Lite
library in the edgeclas build cache for linux-armv8 (tailored ones and a full one, if
``edgeclas sdk build paddle-lite --arch armv8 --os linux`` without --tailor was run once) and ORT's.

The device is qemu-user on this machine's CPU: latencies measure the emulation, not a phone's cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _device import private_device  # benchmarks/ is on sys.path when a script runs


def _library_rows() -> list[tuple[str, int, str]]:
    from edgeclas.paths import cache_dir

    rows = []
    for m in sorted(cache_dir("build").glob("paddle-lite-linux-armv8-*/install/manifest.json")):
        info = json.loads(m.read_text())
        tailored = info.get("tailored")
        what = f"tailored ({len(tailored['kernels'])} kernels)" if tailored else "full (all kernels, LITE_BUILD_EXTRA)"
        rows.append((f"Paddle Lite {info['version']} {what}", int(info["library"]["bytes"]),
                     f"built in {info['build']['seconds']:.0f} s"))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--images", required=True, type=Path)
    ap.add_argument("--lite-build", required=True, type=Path)
    ap.add_argument("--ort-build", required=True, type=Path)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()

    from edgeclas.bench import bench
    from edgeclas.bench.results import read_results

    threads = [int(t) for t in args.threads.split(",")]
    with private_device("armv8", "bench-lite-device-") as dev:
        work, emu = dev.work, dev.emulator
        res = bench([emu.serial], [args.model], engines=["lite", "onnxruntime"], threads=threads, warmup=2,
                    repeats=args.repeats, images=args.images, out=work / "run", builds=[args.lite_build, args.ort_build],
                    allow_build=False, progress=lambda line: None)
        recs = {(r["settings"]["engine"], r["settings"]["threads"]): r for r in read_results(res.run_dir / "results.jsonl")}
        print(f"model {args.model} on {emu.serial} (emulated armv8 = qemu-user on this machine's CPU, not a phone); "
              f"{args.repeats} timed runs per image after 2 warm-up, {recs and next(iter(recs.values()))['settings']['images']} "
              "image(s)")
        print(f"{'threads':>7s} {'lite p50 ms':>12s} {'ort p50 ms':>11s} {'lite/ort':>9s} {'lite mean':>10s} "
              f"{'ort mean':>9s} {'lite max|Δp|':>13s} {'ort max|Δp|':>12s}")
        for t in threads:
            lite, ort = recs.get(("lite", t)), recs.get(("onnxruntime", t))
            bad = [r for r in (lite, ort) if r is None or r["status"] != "ok"]
            if bad:
                print(f"{t:7d} failed: " + "; ".join(r["error"]["message"] if r else "no record" for r in bad))
                continue
            lp, op = lite["latency_ms"]["p50"], ort["latency_ms"]["p50"]
            print(f"{t:7d} {lp:12.2f} {op:11.2f} {lp / op:8.2f}x {lite['latency_ms']['mean']:10.2f} "
                  f"{ort['latency_ms']['mean']:9.2f} {lite['accuracy']['max_abs_dprob']:13.1e} "
                  f"{ort['accuracy']['max_abs_dprob']:12.1e}")
        print()
        print(f"{'library on the device':52s} {'MB':>6s}  note")
        for name, size, note in _library_rows():
            print(f"{name:52s} {size / 1e6:6.2f}  {note}")
        ort_lib = next(args.ort_build.glob("lib/libonnxruntime.so*"), None)
        if ort_lib is not None:
            print(f"{'ONNX Runtime ' + ort_lib.name:52s} {ort_lib.stat().st_size / 1e6:6.2f}  PyPI aarch64 wheel")
        return 0


if __name__ == "__main__":
    sys.exit(main())
