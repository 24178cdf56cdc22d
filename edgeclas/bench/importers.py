"""Fold other tools' numbers into a bench run: Paddle Lite ``benchmark_bin`` and the PaddleClas lite demo.

Each imported output becomes one schema-valid record (``source`` says where it came from) appended
to ``RUN_DIR/results.jsonl``, so ``edgeclas report`` shows it beside edgeclas's own cells and
``--compare`` can compare a new edgeclas run with numbers a team measured before. What the tool
does not print stays null (benchmark_bin prints no samples, hence no percentiles). The key is the
hash of the file's content and the settings: importing the same file twice adds it once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import targets
from ..errors import ConfigError, DataError
from ..fsutil import append_jsonl
from ..manifest import utc_now
from .matrix import cell_key, check_engines
from .results import RESULTS_NAME, read_results
from .runner import git_state
from .schema import SCHEMA_VERSION, check_cell
from ..stats import compute

__all__ = ["TOOLS", "ImportResult", "import_output"]

TOOLS = ("benchmark_bin", "paddleclas_demo")


@dataclass(frozen=True)
class ImportResult:
    path: Path
    key: str
    added: bool  # False when the same output was imported before


def _latency_benchmark_bin(text: str, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from ..parsers.benchmark_bin import parse_benchmark_bin

    r = parse_benchmark_bin(text, source)
    lat = {"init": r.init_ms, "first": r.first_ms, "n": r.repeats or 0, "mean": r.avg_ms, "std": None,
           "min": r.min_ms, "max": r.max_ms, "p50": None, "p90": None, "p99": None, "trimmed_mean": None,
           "samples": []}
    found = {"threads": r.threads, "power_mode": r.power_mode, "warmup": r.warmup, "repeats": r.repeats,
             "model_file": r.model_file, "precision": r.precision, "device_model": r.device_model,
             "manufacturer": r.device_brand, "android_version": r.android_version}
    return lat, found


def _latency_paddleclas(text: str, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from ..device.errors import OutputParseError
    from ..parsers.clas_system import parse_paddleclas_text

    try:
        out = parse_paddleclas_text(text)
    except OutputParseError as e:
        raise DataError(f"{source}: {e.message}", hint="pass the complete stdout of the PaddleClas demo") from None
    samples = list(out.summary.latency.samples) if out.summary else []
    if not samples:
        raise DataError(f"{source}: no 'Current time cost: … s' lines: nothing to time")
    s = compute(samples)
    # The demo times each image once, cold: there is no separate init/first measurement.
    lat = {"init": None, "first": None, **s.to_dict(), "samples": samples}
    return lat, {"images": len(out.images)}


def import_output(
    path: str | os.PathLike[str],
    tool: str,
    run_dir: str | os.PathLike[str],
    *,
    device: str,
    model: str,
    engine: str = "lite",
    threads: int | None = None,
    power_mode: int | None = None,
    soc: str | None = None,
    abi: str | None = None,
) -> ImportResult:
    """Parse one tool output file and append its record to ``run_dir/results.jsonl``.

    ``device`` names the phone (it becomes the record's serial, so later runs on that phone match);
    settings the tool printed win over the arguments, which fill what it did not print.
    """
    if tool not in TOOLS:
        raise ConfigError(f"--tool: unknown tool '{tool}'", hint=f"choose from {', '.join(TOOLS)}")
    check_engines([engine])
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    lat, found = (_latency_benchmark_bin if tool == "benchmark_bin" else _latency_paddleclas)(text, str(path))
    threads = found.get("threads") or threads or 1
    power_mode = found.get("power_mode") if found.get("power_mode") is not None else (power_mode if power_mode is not None else 3)
    warmup = found.get("warmup") or 0
    repeats = found.get("repeats") or lat["n"] or 1
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    key = cell_key(device, digest, engine, threads, power_mode, warmup, repeats)
    results = Path(run_dir) / RESULTS_NAME
    if any(r.get("key") == key for r in read_results(results)):
        return ImportResult(results, key, False)
    now = utc_now(ms=True)
    rec = {
        "schema": SCHEMA_VERSION, "kind": "bench_cell", "key": key, "status": "ok", "error": None, "source": tool,
        "started": now, "finished": now, "duration_s": 0.0,
        "device": {"serial": device, "model": found.get("device_model"), "manufacturer": found.get("manufacturer"),
                   "soc": soc, "abi": abi, "android_version": found.get("android_version"), "sdk": None,
                   "kernel": None, "cpu_clusters": []},
        "build": {"dir": None, "os": None, "abi": abi, "engine": engine, "engine_version": None, "compiler": None,
                  "binary_sha256": None},
        "edgeclas": git_state(),
        "model": {"name": model, "arch": None, "dir": None, "file": found.get("model_file"),
                  "format": targets.engine(engine).model_format[0], "sha256": None, "precision": found.get("precision")},
        "settings": {"engine": engine, "threads": threads, "power_mode": power_mode, "warmup": warmup,
                     "repeats": repeats, "images": found.get("images", 1), "cooldown_s": 0.0},
        "latency_ms": lat, "peak_rss_kb": None, "affinity": None, "accuracy": None,
    }
    check_cell(rec, str(path))
    append_jsonl(results, rec)
    return ImportResult(results, key, True)
