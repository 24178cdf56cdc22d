from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeclas.bench.importers import import_output
from edgeclas.bench.results import read_results
from edgeclas.bench.schema import validate_cell
from edgeclas.cli import cli
from edgeclas.errors import DataError
from edgeclas.fsutil import append_jsonl
from edgeclas.report import report
from edgeclas.report.compare import compare_runs
from edgeclas.report.table import load_run

from fixtures_bench import make_record

DATA = Path(__file__).parent / "data"


def test_benchmark_bin_import_is_valid_idempotent_and_reported(tmp_path):
    run = tmp_path / "old"
    r = import_output(DATA / "benchmark_bin_sd855.txt", "benchmark_bin", run, device="sd855-phone", model="pplcnet")
    again = import_output(DATA / "benchmark_bin_sd855.txt", "benchmark_bin", run, device="sd855-phone", model="pplcnet")
    assert r.added and not again.added and r.key == again.key
    (rec,) = read_results(run / "results.jsonl")
    assert validate_cell(rec) == []
    assert rec["source"] == "benchmark_bin" and rec["device"]["model"] == "MI 9"
    assert (rec["settings"]["threads"], rec["settings"]["power_mode"], rec["settings"]["repeats"]) == (2, 0, 100)
    lat = rec["latency_ms"]
    assert (lat["mean"], lat["min"], lat["max"], lat["init"], lat["p50"], lat["samples"]) == (6.49, 6.377, 6.895, 15.305, None, [])
    md = report(run, formats=["md"]).paths["md"].read_text()
    assert "| sd855-phone |" in md and "| 6.49 |" in md  # p50 falls back to the mean the tool printed

    # A later edgeclas run on that phone compares against the imported numbers (interval rule: no samples).
    new = tmp_path / "new"
    slower = make_record(serial="sd855-phone", model_name="pplcnet", engine="lite", threads=2, power_mode=0, base_ms=8.0)
    append_jsonl(new / "results.jsonl", slower)
    (change,) = compare_runs(load_run(run), load_run(new))
    assert change.verdict == "regression" and change.test == "p50-p90 overlap"


def test_paddleclas_demo_import_computes_stats_from_per_image_times(tmp_path):
    r = import_output(DATA / "clas_system" / "paddleclas_demo.txt", "paddleclas_demo", tmp_path, device="p",
                      model="mnv3", threads=4)
    (rec,) = read_results(r.path)
    assert validate_cell(rec) == [] and rec["source"] == "paddleclas_demo"
    lat = rec["latency_ms"]
    assert lat["n"] == len(lat["samples"]) >= 1 and lat["samples"][0] > 1  # seconds were turned into ms
    assert rec["settings"]["threads"] == 4


def test_bad_input_names_the_file(tmp_path):
    bad = tmp_path / "x.txt"
    bad.write_text("Time(unit: ms): init = 1 first = 2\n")
    with pytest.raises(DataError, match=r"x.txt:1: time block lacks min, max, avg"):
        import_output(bad, "benchmark_bin", tmp_path / "run", device="d", model="m")
    r = CliRunner().invoke(cli, ["import-results", str(bad), "--tool", "paddleclas_demo", "--out", str(tmp_path / "r"),
                                 "--device", "d", "--model", "m"])
    assert r.exit_code == 3 and "error:" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "r" / "results.jsonl").exists()
