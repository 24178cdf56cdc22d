"""edgeclas bench against the emulated ARM device through a real adb server (integration)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edgeclas.bench.results import read_results
from edgeclas.bench.schema import validate_cell

pytestmark = pytest.mark.integration

EDGECLAS = [str(Path(sys.executable).with_name("edgeclas"))]


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGECLAS, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def _real_build(request, tmp_path: Path) -> Path:
    """H3's session build when its fixture is registered, else the same build made here (cached, incremental)."""
    try:
        b = request.getfixturevalue("armv8_linux_build")
        return Path(getattr(b, "out", b))
    except pytest.FixtureLookupError:
        from edgeclas.build import build

        return build("armv8", "linux", "onnxruntime", tmp_path / "build").out


def test_bench_and_report_on_emulator_with_real_build(request, emulator, model_dir, sample_images, tmp_path):
    build = _real_build(request, tmp_path)
    run = tmp_path / "run"
    r = _cli("bench", "--devices", emulator.serial, "--model", model_dir, "--threads", "1,2", "--repeats", "20",
             "--images", sample_images[0].parent, "--build", build, "--no-build", "--out", run)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = read_results(run / "results.jsonl")
    assert len(recs) == 2 and [validate_cell(x) for x in recs] == [[], []]
    for rec in recs:
        assert rec["status"] == "ok", rec["error"]
        assert rec["device"]["serial"] == emulator.serial and rec["device"]["cpu_clusters"]
        assert rec["build"]["engine"] == "onnxruntime" and rec["build"]["abi"] == "arm64-v8a"
        lat = rec["latency_ms"]
        assert lat["n"] == len(lat["samples"]) == 20 * len(sample_images)
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert lat["init"] is not None and lat["init"] > 0
        acc = rec["accuracy"]  # device ORT under qemu vs host Paddle on the same images
        assert acc["images"] == len(sample_images) and acc["top1_agreement"] == 1.0 and acc["max_abs_dprob"] < 1e-4
        assert rec["peak_rss_kb"] and rec["peak_rss_kb"] > 1000
    assert sorted(x["settings"]["threads"] for x in recs) == [1, 2]
    r = _cli("report", run)
    assert r.returncode == 0, r.stderr
    assert (run / "report.md").is_file() and (run / "report.html").is_file()
    assert "Speed-up vs threads" in (run / "report.md").read_text()


def test_kill_then_resume_gives_every_cell_once(emulator, fake_build, model_dir, sample_images, tmp_path):
    run = tmp_path / "run"
    args = ["bench", "--devices", emulator.serial, "--model", str(model_dir), "--threads", "1,2,3,4",
            "--power-mode", "0,3", "--repeats", "2", "--images", str(sample_images[0].parent),
            "--build", str(fake_build("OK")), "--no-build", "--reference", "none", "--out", str(run)]
    p = subprocess.Popen([*EDGECLAS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in p.stdout:
            if "cell 1/8" in line:
                break
        else:
            pytest.fail("bench printed no cell line: " + p.stderr.read())
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    first = read_results(run / "results.jsonl")
    assert 1 <= len(first) < 8
    r = _cli("bench", *args[1:], "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resume: {len(first)} of 8 cell(s) already done" in r.stdout
    keys = [x["key"] for x in read_results(run / "results.jsonl")]
    assert len(keys) == 8 and len(set(keys)) == 8
    assert set(json.loads((run / "manifest.json").read_text())["bench"]["cells"]) == set(keys)


def test_crashing_binary_is_an_error_cell_and_the_matrix_goes_on(emulator, fake_build, model_dir, sample_images, tmp_path):
    run = tmp_path / "run"
    r = _cli("bench", "--devices", emulator.serial, "--model", model_dir, "--threads", "1,2", "--repeats", "2",
             "--images", sample_images[0].parent, "--build", fake_build("CRASH"), "--no-build", "--reference", "none",
             "--out", run)
    assert r.returncode == 1
    recs = read_results(run / "results.jsonl")
    assert len(recs) == 2 and all(x["status"] == "error" for x in recs)
    assert all(x["error"]["type"] == "RemoteCrash" and "SIGSEGV" in x["error"]["message"] for x in recs)
    assert "cell 2/2" in r.stdout
    # Failed cells are reported, not dropped.
    r = _cli("report", run, "--format", "md")
    assert r.returncode == 0 and "RemoteCrash" in (run / "report.md").read_text()


def test_two_devices_run_in_parallel_each_with_its_cells(emulator_factory, fake_build, model_dir, sample_images, tmp_path):
    a, b = emulator_factory(), emulator_factory()
    run = tmp_path / "run"
    r = _cli("bench", "--devices", f"{a.serial},{b.serial}", "--model", model_dir, "--threads", "1,2,4",
             "--repeats", "2", "--images", sample_images[0].parent, "--build", fake_build("OK"), "--no-build",
             "--reference", "none", "--out", run)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = read_results(run / "results.jsonl")
    by_dev = {s: [x for x in recs if x["device"]["serial"] == s] for s in (a.serial, b.serial)}
    assert all(len(v) == 3 and all(x["status"] == "ok" for x in v) for v in by_dev.values())
    assert f"[{a.serial}] cell 3/3" in r.stdout and f"[{b.serial}] cell 3/3" in r.stdout
    # One worker per device: the two devices' time windows overlap (run one after the other, they would not).
    win = {s: (min(x["started"] for x in v), max(x["finished"] for x in v)) for s, v in by_dev.items()}
    (a0, a1), (b0, b1) = win[a.serial], win[b.serial]
    assert a0 < b1 and b0 < a1, win
