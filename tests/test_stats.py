from __future__ import annotations

import math
import random

import numpy as np
import pytest

from edgeclas.stats import compute, percentile, trimmed_mean


def test_stats_match_numpy_on_random_samples():
    rng = random.Random(3)
    xs = [rng.lognormvariate(2.0, 0.3) for _ in range(137)]
    s = compute(xs)
    a = np.array(xs)
    assert s.n == 137
    assert s.mean == pytest.approx(a.mean(), rel=1e-12)
    assert s.std == pytest.approx(a.std(ddof=1), rel=1e-12)
    assert (s.min, s.max) == (a.min(), a.max())
    for q, got in ((50, s.p50), (90, s.p90), (99, s.p99)):
        assert got == pytest.approx(np.percentile(a, q), rel=1e-12)


def test_percentile_interpolates_between_ranks():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_trimmed_mean_ignores_one_outlier():
    xs = sorted([10.0] * 19 + [1000.0])
    assert trimmed_mean(xs, 0.1) == pytest.approx(10.0)
    assert compute(xs).mean > 50  # the plain mean is dragged by the outlier; the trimmed one is not
    assert trimmed_mean([1.0, 2.0, 3.0], 0.1) == 2.0  # floor(0.3) = 0 samples dropped


def test_single_sample_and_bad_input():
    s = compute([4.0])
    assert (s.std, s.p50, s.trimmed_mean) == (0.0, 4.0, 4.0)
    with pytest.raises(ValueError):
        compute([])
    with pytest.raises(ValueError):
        compute([1.0, math.nan])
