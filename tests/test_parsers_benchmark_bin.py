from __future__ import annotations

from pathlib import Path

import pytest

from edgeclas.errors import DataError
from edgeclas.parsers.benchmark_bin import parse_benchmark_bin

DATA = Path(__file__).parent / "data"


def test_multiline_recorded_sample():
    r = parse_benchmark_bin((DATA / "benchmark_bin_sd855.txt").read_text(), "benchmark_bin_sd855.txt")
    assert (r.init_ms, r.first_ms, r.min_ms, r.max_ms, r.avg_ms) == (15.305, 43.67, 6.377, 6.895, 6.49)
    assert (r.threads, r.power_mode, r.warmup, r.repeats) == (2, 0, 10, 100)
    assert r.model_file == "/data/local/tmp/pplcnet_x1_0.nb"
    assert r.input_shape == "1,3,224,224"
    assert r.device_model == "MI 9" and r.android_version == "11"
    assert r.precision == "fp32"


def test_one_line_time_block_and_seconds_unit():
    r = parse_benchmark_bin("Time(unit: ms): init = 1.5 first = 3 min = 2 max = 4 avg = 2.5\n")
    assert (r.init_ms, r.first_ms, r.min_ms, r.max_ms, r.avg_ms) == (1.5, 3.0, 2.0, 4.0, 2.5)
    assert r.threads is None
    r = parse_benchmark_bin("Time(unit: s):\ninit = 0.01\nfirst = 0.02\nmin = 0.003\nmax = 0.004\navg = 0.0035\n")
    assert r.min_ms == pytest.approx(3.0) and r.avg_ms == pytest.approx(3.5)


def test_truncated_output_names_missing_keys():
    text = (DATA / "benchmark_bin_sd855.txt").read_text()
    cut = text[: text.index("max")]
    with pytest.raises(DataError, match=r"cut.txt:\d+: time block lacks max, avg"):
        parse_benchmark_bin(cut, "cut.txt")
    with pytest.raises(DataError, match="no 'Time"):
        parse_benchmark_bin("hello\n", "x.txt")


def test_bad_integer_setting_names_line():
    with pytest.raises(DataError, match=r"x.txt:2: 'threads: two'"):
        parse_benchmark_bin("a\nthreads: two\nTime(unit: ms): init = 1 first = 1 min = 1 max = 1 avg = 1", "x.txt")
