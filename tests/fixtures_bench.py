"""Bench/report fixtures: schema-valid cell records with latency samples drawn from a seeded RNG."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable

import pytest

from edgeclas.bench.matrix import cell_key
from edgeclas.bench.schema import SCHEMA_VERSION
from edgeclas.stats import compute
from edgeclas.fsutil import append_jsonl


def make_record(
    serial: str = "127.0.0.1:5555",
    threads: int = 1,
    power_mode: int = 3,
    engine: str = "onnxruntime",
    base_ms: float = 10.0,
    n: int = 20,
    seed: int = 0,
    status: str = "ok",
    model_sha: str = "ab" * 32,
    model_name: str = "clarity",
) -> dict[str, Any]:
    rng = random.Random(seed)
    samples = [round(base_ms * (1 + abs(rng.gauss(0, 0.05))), 4) for _ in range(n)]
    s = compute(samples)
    lat = {"init": base_ms * 3, "first": base_ms * 1.5, **s.to_dict(), "samples": samples}
    ok = status == "ok"
    return {
        "schema": SCHEMA_VERSION,
        "kind": "bench_cell",
        "key": cell_key(serial, model_sha, engine, threads, power_mode, 1, n),
        "status": status,
        "error": None if ok else {"type": "RemoteCrash", "message": "clas_system killed by SIGSEGV", "hint": "x"},
        "source": "edgeclas",
        "started": "2026-11-23T16:00:00Z",
        "finished": "2026-11-23T16:00:05Z",
        "duration_s": 5.0,
        "device": {
            "serial": serial, "model": "Emulated ARMv8", "manufacturer": "edgeclas", "soc": "emu-a76",
            "abi": "arm64-v8a", "android_version": "13", "sdk": "33", "kernel": "5.10.0",
            "cpu_clusters": [
                {"name": "big", "cores": [4, 5, 6, 7], "max_freq_khz": 2840000},
                {"name": "little", "cores": [0, 1, 2, 3], "max_freq_khz": 1780000},
            ],
        },
        "build": {"dir": "/b", "os": "linux", "abi": "arm64-v8a", "engine": engine, "engine_version": "1.32.0",
                  "compiler": "aarch64-linux-gnu-g++ 12.2.0", "binary_sha256": "cd" * 32},
        "edgeclas": {"version": "0.1.0", "git_commit": "0" * 40, "git_dirty": False},
        "model": {"name": model_name, "arch": "PPLCNet_x0_25", "dir": "/m", "file": "model.onnx", "format": "onnx",
                  "sha256": model_sha, "precision": "fp32"},
        "settings": {"engine": engine, "threads": threads, "power_mode": power_mode, "warmup": 1, "repeats": n,
                     "images": 2, "cooldown_s": 0.0},
        "latency_ms": lat if ok else None,
        "peak_rss_kb": 20480 if ok else None,
        "affinity": ({"cores": [4, 5, 6, 7][:threads], "clusters": ["big"], "applied": True,
                      "note": "big cores by cpuinfo_max_freq"} if ok else None),
        "accuracy": ({"reference": "paddle", "images": 2, "top1_agreement": 1.0, "max_abs_dprob": 3e-7,
                      "mismatched": []} if ok else None),
    }


@pytest.fixture
def cell_record() -> Callable[..., dict[str, Any]]:
    return make_record


@pytest.fixture
def sample_run(tmp_path: Path) -> Path:
    """A run dir: one device, threads 1/2/4 (faster with more threads), plus one failed cell."""
    run = tmp_path / "run"
    for i, (t, ms) in enumerate([(1, 12.0), (2, 7.0), (4, 4.5)]):
        append_jsonl(run / "results.jsonl", make_record(threads=t, base_ms=ms, seed=i))
    append_jsonl(run / "results.jsonl", make_record(threads=2, power_mode=0, status="error", seed=9))
    return run
