"""User errors of bench/report/run come back as one line and an exit code, before any device is contacted."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgeclas.cli import cli


@pytest.mark.parametrize("args, code, message", [
    (["bench", "--devices", "nowhere:1", "--model", "/nonexistent/model"], 4, "/nonexistent/model: no such directory"),
    (["report", "/nonexistent/run"], 2, "no results.jsonl here"),
    (["run", "/nonexistent/p.yaml"], 2, "cannot read the pipeline"),
    (["import-results", "/nonexistent.txt", "--tool", "benchmark_bin", "--out", "/tmp/x", "--device", "d",
      "--model", "m"], 3, "/nonexistent.txt: cannot read"),
])
def test_user_errors(args, code, message):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output


def test_bad_matrix_values_fail_before_devices(model_dir, sample_images):
    base = ["bench", "--devices", "nowhere:1", "--model", str(model_dir), "--images", str(sample_images[0])]
    r = CliRunner().invoke(cli, [*base, "--threads", "0"])
    assert r.exit_code == 2 and "--threads: 0 is out of range" in r.output
    r = CliRunner().invoke(cli, [*base, "--engine", "tflite"])
    assert r.exit_code == 2 and "unknown engine(s) tflite" in r.output
    r = CliRunner().invoke(cli, [*base, "--threads", "1,x"])
    assert r.exit_code == 2 and "'x' is not a valid value" in r.output


def test_report_fail_on_regression_for_ci(tmp_path):
    from edgeclas.fsutil import append_jsonl

    from fixtures_bench import make_record

    append_jsonl(tmp_path / "old" / "results.jsonl", make_record(base_ms=10.0, seed=1, n=30))
    append_jsonl(tmp_path / "new" / "results.jsonl", make_record(base_ms=13.0, seed=2, n=30))
    args = ["report", str(tmp_path / "new"), "--compare", str(tmp_path / "old"), "--format", "md"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0 and "1 regression(s)" in r.output
    r = CliRunner().invoke(cli, [*args, "--fail-on-regression"])
    assert r.exit_code == 8 and "error: 1 regression(s) beyond noise" in r.output
    r = CliRunner().invoke(cli, [*args, "--fail-on-regression", "--threshold", "0.5"])
    assert r.exit_code == 0  # 30 % slower is significant but below a 50 % threshold
