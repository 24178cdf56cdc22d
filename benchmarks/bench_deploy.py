"""Deploy transfer cost: what `edgeclas deploy` pushes vs the usual `adb push` of everything.

    .venv/bin/python benchmarks/bench_deploy.py --build BUILD_DIR --model MODEL_DIR --images PATH [--rounds 3]

Starts a private adb server and an emulated armv8 device (both on free loopback ports, stopped at
the end), makes one bundle, then times per round (median of --rounds):

* `adb push BUNDLE/. REMOTE` — the PaddleClas deploy/lite way: copy everything every time;
* sync_bundle into an empty remote dir (hash check + push of every file);
* sync_bundle of the unchanged bundle again (hash check only, 0 bytes);
* sync_bundle after a settings change (only config.txt differs).

Prints seconds, bytes pushed and the ratio to the full `adb push` side by side.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _device import private_device  # benchmarks/ is on sys.path when a script runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, type=Path)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--images", required=True, type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from edgeclas.deploy import RunSettings, make_bundle, sync_bundle
    from edgeclas.device import AdbServer, select_device

    with private_device("armv8", "bench-deploy-") as pd:
        work, emu, adb, adb_port = pd.work, pd.emulator, pd.adb, pd.adb_port
        dev = select_device(emu.serial, AdbServer("127.0.0.1", adb_port, explicit=True))
        bundle = make_bundle(args.build, args.model, args.images, RunSettings(), work / "bundle")
        other = make_bundle(args.build, args.model, args.images, RunSettings(threads=2), work / "bundle2")
        remote = "/data/local/tmp/bench-deploy"
        rows: dict[str, list[tuple[float, int]]] = {k: [] for k in ("adb push (all files)", "sync: empty remote dir",
                                                                    "sync: unchanged bundle", "sync: config changed")}
        for _ in range(args.rounds):
            dev.shell(["rm", "-rf", remote])
            dev.shell(["mkdir", "-p", remote])
            t0 = time.perf_counter()
            subprocess.run([adb, "-P", str(adb_port), "-s", emu.serial, "push", f"{bundle.path}/.", remote],
                           check=True, capture_output=True)
            rows["adb push (all files)"].append((time.perf_counter() - t0, bundle.size_bytes))
            dev.shell(["rm", "-rf", remote])
            for name, b in (("sync: empty remote dir", bundle), ("sync: unchanged bundle", bundle),
                            ("sync: config changed", other)):
                t0 = time.perf_counter()
                stats = sync_bundle(dev, b, remote)
                rows[name].append((time.perf_counter() - t0, stats.bytes_pushed))
        base = statistics.median(t for t, _ in rows["adb push (all files)"])
        print(f"bundle: {len(bundle.files)} files, {bundle.size_bytes / 1e6:.1f} MB; device {emu.serial} (emulated armv8, "
              f"loopback); median of {args.rounds} round(s)")
        print(f"{'method':28s} {'seconds':>9s} {'bytes pushed':>13s} {'time vs adb push':>17s}")
        for name, samples in rows.items():
            t = statistics.median(s for s, _ in samples)
            print(f"{name:28s} {t:9.3f} {samples[-1][1]:13d} {t / base:16.2f}x")
        return 0


if __name__ == "__main__":
    sys.exit(main())
