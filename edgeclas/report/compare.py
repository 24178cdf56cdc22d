"""Compare two bench runs cell by cell and mark changes beyond noise.

Cells match by (device serial, model name, engine, threads, power mode), so a new build or model
is compared with the old one. A change is called a regression (or an improvement) only when both
hold:

- it is **significant**: Welch's t-test on the raw samples gives p < ``alpha`` (default 0.01);
  without samples on both sides (imported tool output) the p50–p90 ranges must not overlap;
- it is **large enough to matter**: the p50 moved by more than ``threshold`` (default 5 %).

Phones are noisy (DVFS, thermal state, background tasks): a 2 % shift with p = 1e-9 is real but
not worth failing a PR over, and a 20 % shift from 3 samples each may be luck.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from .table import Row, Run

__all__ = ["Change", "compare_runs", "welch_t_test", "student_t_sf2"]


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln_front) * _betacf(b, a, 1.0 - x) / b


def student_t_sf2(t: float, df: float) -> float:
    """Two-sided p-value of Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """``(t, df, p)`` of Welch's unequal-variance t-test; needs at least 2 samples on each side."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        raise ValueError("Welch's t-test needs at least 2 samples per side")
    ma, mb = math.fsum(a) / na, math.fsum(b) / nb
    va = math.fsum((x - ma) ** 2 for x in a) / (na - 1)
    vb = math.fsum((x - mb) ** 2 for x in b) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0.0:
        return (0.0 if ma == mb else math.copysign(math.inf, mb - ma)), float(na + nb - 2), (1.0 if ma == mb else 0.0)
    t = (mb - ma) / math.sqrt(se2)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1)) if va > 0 or vb > 0 else float(na + nb - 2)
    return t, df, student_t_sf2(t, df)


@dataclass(frozen=True)
class Change:
    device: str
    model: str
    engine: str
    threads: int
    power_mode: int
    old_p50: float | None
    new_p50: float | None
    change: float | None  # relative change of p50, +0.10 = 10 % slower
    p_value: float | None
    test: str  # "welch" | "p50-p90 overlap" | "none"
    verdict: str  # regression | improvement | within noise | new | removed | error

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _judge(old: Row, new: Row, alpha: float, threshold: float) -> tuple[float | None, str, str]:
    a, b = old.samples, new.samples
    o50, n50 = old.p50, new.p50
    assert o50 is not None and n50 is not None
    big = abs(n50 - o50) / o50 > threshold if o50 > 0 else n50 != o50
    if len(a) >= 2 and len(b) >= 2:
        _, _, p = welch_t_test(a, b)
        significant, test = p < alpha, "welch"
    else:
        p = None
        o90, n90 = old.p90, new.p90
        assert o90 is not None and n90 is not None
        significant, test = (n50 > o90 or o50 > n90), "p50-p90 overlap"
    if significant and big:
        return p, test, "regression" if n50 > o50 else "improvement"
    return p, test, "within noise"


def compare_runs(old: Run, new: Run, *, alpha: float = 0.01, threshold: float = 0.05) -> list[Change]:
    """Per-cell changes from ``old`` to ``new`` (cells present in either run)."""
    old_by = {r.match_key: r for r in old.rows}
    new_by = {r.match_key: r for r in new.rows}
    out: list[Change] = []
    for key in sorted(set(old_by) | set(new_by), key=lambda k: (k[0], k[1], k[2], k[4], k[3])):
        o, n = old_by.get(key), new_by.get(key)
        serial, model, engine, threads, pm = key
        o50 = o.p50 if o and o.ok else None
        n50 = n.p50 if n and n.ok else None
        change = (n50 - o50) / o50 if o50 and n50 is not None else None
        p, test = None, "none"
        if o is None:
            verdict = "new"
        elif n is None:
            verdict = "removed"
        elif not n.ok or not o.ok:
            verdict = "error"
        else:
            p, test, verdict = _judge(o, n, alpha, threshold)
        out.append(Change(serial, model, engine, threads, pm, o50, n50, change, p, test, verdict))
    return out
