"""The matrix/resume/lock machinery with an injected device session (the real one is in test_bench_device.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgeclas.bench.matrix import ModelRef, build_matrix
from edgeclas.bench.results import read_results
from edgeclas.bench.runner import run_matrix
from edgeclas.device.lock import device_lock
from edgeclas.bench.schema import validate_cell
from edgeclas.stats import compute
from edgeclas.errors import ConfigError, DeviceError

MODEL = ModelRef(dir="/m", name="clarity", arch="PPLCNet_x0_25", precision={"onnxruntime": "fp32", "lite": None},
                 files={"onnxruntime": ("model.onnx", "ab" * 32), "lite": None})


class Session:
    """Times a real computation per cell; threads=3 fails the way a crashing binary does."""

    def __init__(self, serial: str) -> None:
        self.serial = serial
        self.closed = False

    def environment(self):
        return {"serial": self.serial, "model": "Test", "manufacturer": None, "soc": None, "abi": "arm64-v8a",
                "android_version": None, "sdk": None, "kernel": None, "cpu_clusters": []}

    def run_cell(self, cell):
        if cell.threads == 3:
            raise DeviceError("clas_system killed by signal 11", hint="look at stderr")
        samples = []
        for _ in range(cell.repeats):
            t0 = time.perf_counter()
            sum(i * i for i in range(2000 * cell.threads))
            samples.append((time.perf_counter() - t0) * 1000)
        s = compute(samples)
        return {"build": {"dir": None, "os": "linux", "abi": "arm64-v8a", "engine": cell.engine,
                          "engine_version": "1.32.0", "compiler": None, "binary_sha256": None},
                "latency_ms": {"init": 1.0, "first": 1.0, **s.to_dict(), "samples": samples}}

    def close(self):
        self.closed = True


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))


def test_matrix_order_keys_and_validation():
    cells = build_matrix(["a", "b"], [MODEL], ["onnxruntime", "lite"], [1, 2, 2], [3], 1, 5)
    assert len(cells) == 2 * 2 * 2
    assert [c.device for c in cells] == ["a"] * 4 + ["b"] * 4
    assert len({c.key for c in cells}) == 8
    again = build_matrix(["a", "b"], [MODEL], ["onnxruntime", "lite"], [1, 2], [3], 1, 5)
    assert [c.key for c in cells] == [c.key for c in again]  # stable across calls (and processes: sha256)
    assert build_matrix(["a"], [MODEL], ["onnxruntime"], [1], [3], 1, 6)[0].key != cells[0].key
    with pytest.raises(ConfigError, match="--power-mode: 7 is out of range"):
        build_matrix(["a"], [MODEL], ["onnxruntime"], [1], [7], 1, 5)
    with pytest.raises(ConfigError, match="unknown engine"):
        build_matrix(["a"], [MODEL], ["tflite"], [1], [3], 1, 5)


def test_two_devices_errors_recorded_and_matrix_goes_on(tmp_path):
    cells = build_matrix(["dev-a", "dev-b"], [MODEL], ["onnxruntime", "lite"], [1, 3, 2], [3], 0, 4)
    lines: list[str] = []
    res = run_matrix(cells, tmp_path / "run", Session, images=2, progress=lines.append)
    recs = read_results(tmp_path / "run" / "results.jsonl")
    assert res.ran == len(cells) == len(recs) == 12
    assert all(validate_cell(r) == [] for r in recs)
    by_key = {r["key"]: r for r in recs}
    assert set(by_key) == {c.key for c in cells}
    crashed = [r for r in recs if r["settings"]["threads"] == 3 and r["settings"]["engine"] == "onnxruntime"]
    assert {r["error"]["type"] for r in crashed} == {"DeviceError"} and len(crashed) == 2
    no_nb = [r for r in recs if r["settings"]["engine"] == "lite"]
    assert all(r["status"] == "error" and "--to nb" in r["error"]["hint"] for r in no_nb)
    ok = [r for r in recs if r["status"] == "ok"]
    assert len(ok) == 4 and res.errors == 8
    assert any("cell 6/6" in ln and "ETA" in ln for ln in lines if ln.startswith("[dev-a]"))


def test_resume_skips_done_and_refuses_to_mix_without_it(tmp_path):
    cells = build_matrix(["a"], [MODEL], ["onnxruntime"], [1, 2], [3], 0, 3)
    run = tmp_path / "run"
    run_matrix(cells[:1], run, Session, images=1, progress=lambda s: None)
    with pytest.raises(ConfigError, match="pass --resume"):
        run_matrix(cells, run, Session, images=1, progress=lambda s: None)
    res = run_matrix(cells, run, Session, images=1, resume=True, progress=lambda s: None)
    assert (res.skipped, res.ran) == (1, 1)
    keys = [r["key"] for r in read_results(run / "results.jsonl")]
    assert sorted(keys) == sorted(c.key for c in cells)


def test_retry_errors_reruns_only_failed_cells(tmp_path):
    cells = build_matrix(["a"], [MODEL], ["onnxruntime"], [1, 3], [3], 0, 3)
    run = tmp_path / "run"
    run_matrix(cells, run, Session, images=1, progress=lambda s: None)
    res = run_matrix(cells, run, Session, images=1, resume=True, retry_errors=True, progress=lambda s: None)
    assert (res.skipped, res.ran) == (1, 1)


def test_read_results_skips_a_cut_last_line(tmp_path, cell_record):
    p = tmp_path / "results.jsonl"
    good = json.dumps(cell_record())
    p.write_text(good + "\n" + good[: len(good) // 2])
    assert len(read_results(p)) == 1
    p.write_text("{not json\n" + good + "\n")
    with pytest.raises(ConfigError, match=r"results.jsonl:1: not a JSON line"):
        read_results(p)


def test_device_lock_excludes_another_process(tmp_path):
    env = {**os.environ, "EDGECLAS_CACHE": os.environ["EDGECLAS_CACHE"]}
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from edgeclas.device.lock import device_lock\n"
         "with device_lock('emu:1'):\n print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DeviceError, match=r"emu:1: device is busy \(held by pid \d+"):
            with device_lock("emu:1", timeout_s=0.6):
                pass
        cells = build_matrix(["emu:1"], [MODEL], ["onnxruntime"], [1], [3], 0, 2)
        res = run_matrix(cells, tmp_path / "run", Session, images=1, lock_timeout_s=0.6, progress=lambda s: None)
        assert "busy" in res.device_failures["emu:1"] and res.ran == 0
    finally:
        holder.kill()
        holder.wait()
    with device_lock("emu:1", timeout_s=5):  # released when its holder dies
        pass


_KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_bench_runner import MODEL, Session
    from edgeclas.bench.matrix import build_matrix
    from edgeclas.bench.runner import run_matrix

    class Slow(Session):
        def run_cell(self, cell):
            time.sleep(0.4)
            return super().run_cell(cell)

    cells = build_matrix(["a", "b"], [MODEL], ["onnxruntime"], [1, 2, 4, 5], [3], 0, 3)
    run_matrix(cells, sys.argv[1], Slow, images=1, resume=True, progress=lambda s: print(s, flush=True))
""")


def test_sigkill_then_resume_gives_every_cell_once(tmp_path):
    script = tmp_path / "bench_script.py"
    script.write_text(_KILL_SCRIPT.format(tests=str(Path(__file__).parent)))
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    p = subprocess.Popen([sys.executable, str(script), str(run)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        assert "cell 1/4" in line
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    first = read_results(run / "results.jsonl")
    assert 1 <= len(first) < 8
    out = subprocess.run([sys.executable, str(script), str(run)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"resume: {len(first)} of 8" in out.stdout
    keys = [r["key"] for r in read_results(run / "results.jsonl")]
    assert len(keys) == 8 and len(set(keys)) == 8


def test_unreachable_device_records_every_cell_as_error(tmp_path):
    def factory(serial):
        if serial == "gone":
            raise DeviceError(f"{serial}: device offline", hint="replug it")
        return Session(serial)

    cells = build_matrix(["gone", "ok"], [MODEL], ["onnxruntime"], [1, 2], [3], 0, 2)
    run_matrix(cells, tmp_path / "run", factory, images=1, progress=lambda s: None)
    recs = read_results(tmp_path / "run" / "results.jsonl")
    gone = [r for r in recs if r["device"]["serial"] == "gone"]
    assert len(gone) == 2 and all(r["status"] == "error" and r["error"]["message"] == "gone: device offline"
                                  and r["error"]["hint"] == "replug it" for r in gone)
    assert all(validate_cell(r) == [] for r in recs)
    assert [r["status"] for r in recs if r["device"]["serial"] == "ok"] == ["ok", "ok"]


def test_a_session_returning_a_bad_record_becomes_an_error_cell(tmp_path):
    class Broken(Session):
        def run_cell(self, cell):
            out = super().run_cell(cell)
            out["latency_ms"]["p50"] = "fast"
            return out

    cells = build_matrix(["a"], [MODEL], ["onnxruntime"], [1], [3], 0, 2)
    run_matrix(cells, tmp_path / "run", Broken, images=1, progress=lambda s: None)
    (rec,) = read_results(tmp_path / "run" / "results.jsonl")
    assert rec["status"] == "error" and "latency_ms.p50: expected number, got str" in rec["error"]["message"]
    assert validate_cell(rec) == []
