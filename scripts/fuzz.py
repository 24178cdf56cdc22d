#!/usr/bin/env python3
"""Run every fuzz target for a fixed time and print executions and findings per target.

    .venv/bin/python scripts/fuzz.py [--seconds 300] [--runs N] [--targets config,decode,decode_stb,parser] [--out DIR]

Targets (native/fuzz/): ``config`` (clas_system's config parser), ``decode`` (image bytes -> decode -> preprocess
with libjpeg-turbo/libpng/stb as on Linux), ``decode_stb`` (the same with stb_image for every format, as on
Android), ``parser`` (the Python clas_system output parser, atheris). The C++ targets are built with clang,
libFuzzer, ASan and UBSan in the edgeclas cache (apt: clang libclang-rt-14-dev); atheris comes from PyPI
(pip install atheris). Each target starts from its seed corpus (tests/data/fuzz/<target>/, the recorded
outputs in tests/data/clas_system/ for the parser) and stops after --seconds or --runs executions, whichever
comes first. Inputs that crash are written to OUT/crashes/<target>/: copy each into tests/data/fuzz/<target>/
after fixing it, so the sanitizer replay in the test suite keeps it fixed. Exit status 1 when a target
crashed. Results go in native/README.md ("Fuzzing").
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = {"config": ROOT / "tests/data/fuzz/config", "decode": ROOT / "tests/data/fuzz/decode",
         "decode_stb": ROOT / "tests/data/fuzz/decode", "parser": ROOT / "tests/data/clas_system"}


def build(variant: str, image_libs: bool) -> Path:
    """clang + libFuzzer + ASan/UBSan build of native/ (fuzz targets only), cached and incremental."""
    sys.path.insert(0, str(ROOT))
    from edgeclas.paths import cache_dir

    clang, clangxx = shutil.which("clang"), shutil.which("clang++")
    if not clang or not clangxx:
        sys.exit("fuzz: clang is not on PATH (apt-get install clang libclang-rt-14-dev)")
    args = ["-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", f"-DCMAKE_C_COMPILER={clang}",
            f"-DCMAKE_CXX_COMPILER={clangxx}", "-DEDGECLAS_BUILD_FUZZERS=ON", "-DEDGECLAS_SANITIZE=ON",
            f"-DEDGECLAS_IMAGE_LIBS={'ON' if image_libs else 'OFF'}"]
    key = hashlib.sha256(" ".join([str(ROOT), *args]).encode()).hexdigest()[:12]
    bdir = cache_dir("build", f"fuzz-{variant}-{key}")
    subprocess.run(["cmake", "-S", str(ROOT / "native"), "-B", str(bdir), *args], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["nice", "-n", "10", "cmake", "--build", str(bdir), "--target", "fuzz_config", "fuzz_decode"],
                   check=True, stdout=subprocess.DEVNULL)
    return bdir / "bin"


def command(target: str, bins: dict[str, Path]) -> list[str]:
    if target == "parser":
        return [sys.executable, str(ROOT / "native/fuzz/fuzz_clas_system_parser.py")]
    return [str(bins[target] / ("fuzz_config" if target == "config" else "fuzz_decode"))]


def run(target: str, cmd: list[str], out: Path, seconds: int, runs: int) -> dict:
    corpus = out / "corpus" / target
    crashes = out / "crashes" / target
    crashes.mkdir(parents=True, exist_ok=True)
    if not corpus.exists():
        shutil.copytree(SEEDS[target], corpus)
    flags = [f"-max_total_time={seconds}", "-print_final_stats=1", "-rss_limit_mb=2048", "-timeout=10",
             f"-artifact_prefix={crashes}/", str(corpus)]
    if runs:
        flags.insert(0, f"-runs={runs}")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    proc = subprocess.run(["nice", "-n", "10", *cmd, *flags], capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", proc.stderr))
    found = sorted(p.name for p in crashes.iterdir())
    (out / f"{target}.log").write_text(proc.stderr)
    return {"target": target, "executions": int(stats.get("number_of_executed_units", 0)), "seconds": wall,
            "crashes": found, "exit": proc.returncode, "corpus": sum(1 for _ in corpus.iterdir())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=300, help="time limit per target")
    ap.add_argument("--runs", type=int, default=0, help="stop a target after this many executions (0: no limit)")
    ap.add_argument("--targets", default="config,decode,decode_stb,parser")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz")
    args = ap.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(SEEDS)
    if unknown:
        sys.exit(f"fuzz: unknown target(s) {', '.join(sorted(unknown))}; known: {', '.join(SEEDS)}")
    bins = {}
    if {"config", "decode"} & set(targets):
        bins["config"] = bins["decode"] = build("libs", True)
    if "decode_stb" in targets:
        bins["decode_stb"] = build("stb", False)
    if "parser" in targets:
        try:
            import atheris  # noqa: F401
        except ImportError:
            sys.exit("fuzz: atheris is not installed (pip install 'edgeclas[fuzz]')")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'target':<12}{'executions':>12}{'seconds':>9}{'exec/s':>9}{'corpus':>8}  crashes")
    bad = False
    for target in targets:
        r = run(target, command(target, bins), args.out, args.seconds, args.runs)
        rate = r["executions"] / r["seconds"] if r["seconds"] else 0
        print(f"{target:<12}{r['executions']:>12}{r['seconds']:>9.0f}{rate:>9.0f}{r['corpus']:>8}  "
              f"{len(r['crashes'])}{' ' + ', '.join(r['crashes']) if r['crashes'] else ''}", flush=True)
        bad |= bool(r["crashes"]) or r["exit"] != 0
    print(f"logs and corpora: {args.out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
