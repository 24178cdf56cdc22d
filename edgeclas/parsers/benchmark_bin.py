"""Parse the text Paddle Lite's ``benchmark_bin`` prints, so its numbers can be folded into a report.

benchmark_bin prints sections (``======= Device Info =======`` …) of ``key: value`` lines, then the
times block, either on one line or one key per line::

    Time(unit: ms): init = 15.305 first = 43.670 min = 32.577 max = 32.895 avg = 32.723

    Time(unit: ms):
    init  = 15.305
    first = 43.670
    ...

It reports no percentiles and no samples: a record made from it carries only min/max/avg.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import DataError

__all__ = ["BenchmarkBinResult", "parse_benchmark_bin"]

_TIME_HEADER = re.compile(r"Time\s*\(\s*unit\s*:\s*(ms|s|us)\s*\)\s*:?", re.IGNORECASE)
_TIME_ITEM = re.compile(r"\b(init|first|min|max|avg|average)\s*=\s*([-+0-9.eE]+)")
_KEY_VALUE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ()]*?)\s*:\s*(.*?)\s*$")
_UNIT_TO_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001}

# benchmark_bin's own keys → our field names (settings printed under "Runtime Info" etc.).
_INT_KEYS = {"threads": "threads", "power_mode": "power_mode", "warmup": "warmup", "repeats": "repeats"}
_STR_KEYS = {
    "optimized_model_file": "model_file",
    "optimized_model_path": "model_file",
    "model_file": "model_file",
    "input_shape": "input_shape",
    "backend": "backend",
    "cpu precision": "precision",
    "precision": "precision",
    "brand": "device_brand",
    "device": "device_name",
    "model": "device_model",
    "android version": "android_version",
    "benchmark_bin version": "tool_version",
}


@dataclass(frozen=True)
class BenchmarkBinResult:
    init_ms: float
    first_ms: float
    min_ms: float
    max_ms: float
    avg_ms: float
    threads: int | None = None
    power_mode: int | None = None
    warmup: int | None = None
    repeats: int | None = None
    model_file: str | None = None
    input_shape: str | None = None
    backend: str | None = None
    precision: str | None = None
    device_brand: str | None = None
    device_name: str | None = None
    device_model: str | None = None
    android_version: str | None = None
    tool_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_benchmark_bin(text: str, source: str = "<benchmark_bin output>") -> BenchmarkBinResult:
    """Parse one benchmark_bin run; a missing time block or a missing time key is a DataError naming it."""
    lines = text.splitlines()
    header_at = next((i for i, ln in enumerate(lines) if _TIME_HEADER.search(ln)), None)
    if header_at is None:
        raise DataError(
            f"{source}: no 'Time(unit: ms):' line found; this is not benchmark_bin output (or it was cut off)",
            hint="pass the complete stdout of one benchmark_bin run",
        )
    header = _TIME_HEADER.search(lines[header_at])
    assert header is not None
    unit = header.group(1).lower()
    times: dict[str, float] = {}
    # The items follow the header on the same line or on the next few lines.
    block = [lines[header_at][header.end() :], *lines[header_at + 1 : header_at + 8]]
    for ln in block:
        for key, value in _TIME_ITEM.findall(ln):
            key = "avg" if key == "average" else key
            try:
                times.setdefault(key, float(value) * _UNIT_TO_MS[unit])
            except ValueError:
                raise DataError(f"{source}:{header_at + 1}: '{key} = {value}' is not a number") from None
    missing = [k for k in ("init", "first", "min", "max", "avg") if k not in times]
    if missing:
        raise DataError(
            f"{source}:{header_at + 1}: time block lacks {', '.join(missing)} "
            "(expected 'init = … first = … min = … max = … avg = …')",
            hint="the run was probably cut off; re-run benchmark_bin and capture all of its output",
        )

    fields: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for lineno, ln in enumerate(lines[:header_at], start=1):
        m = _KEY_VALUE.match(ln)
        if not m or "=" in ln:
            continue
        key, value = m.group(1).strip().lower(), m.group(2)
        if key in _INT_KEYS:
            try:
                fields[_INT_KEYS[key]] = int(value)
            except ValueError:
                raise DataError(f"{source}:{lineno}: '{key}: {value}' is not an integer") from None
        elif key in _STR_KEYS:
            fields.setdefault(_STR_KEYS[key], value)
        elif value:
            extra[key] = value
    return BenchmarkBinResult(
        init_ms=times["init"],
        first_ms=times["first"],
        min_ms=times["min"],
        max_ms=times["max"],
        avg_ms=times["avg"],
        extra=extra,
        **fields,
    )
