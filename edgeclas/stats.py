"""Latency statistics computed from raw samples, never taken on trust from a tool's summary.

Percentiles use linear interpolation between closest ranks (numpy's default ``linear`` method), so
p50 of ``[1, 2, 3, 4]`` is 2.5. The trimmed mean drops ``trim`` of the samples at each end (10 % by
default): one slow run caused by a background task on the phone moves it far less than the mean.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

__all__ = ["Stats", "compute", "percentile", "trimmed_mean"]


@dataclass(frozen=True)
class Stats:
    n: int
    mean: float
    std: float
    min: float
    max: float
    p50: float
    p90: float
    p99: float
    trimmed_mean: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """``q`` in [0, 100] of already sorted samples, linear interpolation between closest ranks."""
    if not sorted_samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside [0, 100]")
    pos = (len(sorted_samples) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_samples) - 1)
    frac = pos - lo
    return sorted_samples[lo] + (sorted_samples[hi] - sorted_samples[lo]) * frac


def trimmed_mean(sorted_samples: Sequence[float], trim: float = 0.1) -> float:
    """Mean after dropping ``floor(n * trim)`` samples at each end (the plain mean when that is 0)."""
    if not sorted_samples:
        raise ValueError("trimmed mean of no samples")
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim {trim} outside [0, 0.5)")
    k = int(len(sorted_samples) * trim)
    kept = sorted_samples[k : len(sorted_samples) - k]
    return math.fsum(kept) / len(kept)


def compute(samples: Sequence[float], trim: float = 0.1) -> Stats:
    """Stats of raw latency samples; ``std`` is the sample standard deviation (n-1), 0 for one sample."""
    xs = sorted(float(x) for x in samples)
    if not xs:
        raise ValueError("no samples to compute statistics from")
    if any(not math.isfinite(x) for x in xs):
        raise ValueError("samples contain NaN or infinity")
    n = len(xs)
    mean = math.fsum(xs) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return Stats(
        n=n,
        mean=mean,
        std=std,
        min=xs[0],
        max=xs[-1],
        p50=percentile(xs, 50),
        p90=percentile(xs, 90),
        p99=percentile(xs, 99),
        trimmed_mean=trimmed_mean(xs, trim),
    )
