"""Paddle Lite on the emulated ARM devices: deploy, bench beside ONNX Runtime, verify's device rows (integration).

The arm ``.nb`` runs through clas_system linked to Paddle Lite built from source (tests/fixtures_lite_build.py)
on the emulated phone, reached through the real adb server; every number is checked against Paddle
Inference on the host, on PNG photographs (decoders agree exactly on PNG).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeclas.bench.results import read_results
from edgeclas.bench.schema import validate_cell

pytestmark = pytest.mark.integration

EDGECLAS = [str(Path(sys.executable).with_name("edgeclas"))]


def _cli(*args: object, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGECLAS, *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def png_dir(tmp_path_factory, sample_images) -> Path:
    folder = tmp_path_factory.mktemp("png")
    for p in sample_images:
        if p.suffix == ".png":
            (folder / p.name).write_bytes(p.read_bytes())
    return folder


@pytest.mark.parametrize("which", ["trained", "disc"])
def test_deploy_lite_on_the_emulated_armv8_matches_host_paddle(which, emulator, armv8_lite_build, lite_models,
                                                                png_dir, tmp_path):
    from edgeclas.bench.accuracy import reference_probs
    from edgeclas.deploy import RunSettings, deploy

    model = lite_models[which]
    res = deploy(emulator.serial, model, png_dir, build_dir=armv8_lite_build.out,
                 settings=RunSettings(threads=2, repeats=3),
                 remote_dir=f"/data/local/tmp/edgeclas-test/{tmp_path.name}", engine="lite", bundle_dir=tmp_path / "bundle",
                 out=tmp_path / "result.json")
    assert (res.run.engine, res.run.engine_version) == ("lite", "v2.13-rc")
    assert res.bundle.model_file.endswith("_arm.nb") and "lib/libpaddle_light_api_shared.so" in res.bundle.files
    sources = [Path(res.bundle.image_sources[rel]) for rel in res.bundle.images]
    ref = reference_probs(model, sources, "paddle")
    got = np.array([res.run.prediction(rel).probs for rel in res.bundle.images])
    assert np.abs(got - ref).max() <= 1e-4, np.abs(got - ref).max()
    assert (got.argmax(1) == ref.argmax(1)).all()
    if which == "disc":  # probabilities that differ per image: agreement above means something
        assert np.abs(ref - ref.mean(0)).max() > 0.05, ref
    assert res.run.peak_rss_kb and res.run.peak_rss_kb > 1000 and len(res.run.latency.samples) == 3 * len(sources)


def test_bench_lite_beside_onnxruntime_on_the_emulated_armv8(emulator, armv8_lite_build, armv8_linux_build,
                                                              lite_models, png_dir, tmp_path):
    run = tmp_path / "run"
    r = _cli("bench", "--devices", emulator.serial, "--model", lite_models["trained"], "--engine", "lite,onnxruntime",
             "--threads", "1,2", "--repeats", "5", "--images", png_dir, "--build", armv8_lite_build.out,
             "--build", armv8_linux_build.out, "--no-build", "--out", run)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = read_results(run / "results.jsonl")
    assert len(recs) == 4 and all(validate_cell(x) == [] for x in recs)
    assert sorted((x["settings"]["engine"], x["settings"]["threads"]) for x in recs) == [
        ("lite", 1), ("lite", 2), ("onnxruntime", 1), ("onnxruntime", 2)]
    for rec in recs:
        assert rec["status"] == "ok", rec["error"]
        engine = rec["settings"]["engine"]
        assert rec["build"]["engine"] == engine and rec["model"]["format"] == {"lite": "nb", "onnxruntime": "onnx"}[engine]
        assert rec["accuracy"]["top1_agreement"] == 1.0 and rec["accuracy"]["max_abs_dprob"] <= 1e-4, rec["accuracy"]
        assert rec["latency_ms"]["n"] == 5 * 3 and rec["latency_ms"]["p50"] > 0
        assert rec["peak_rss_kb"] > 1000
    lite = next(x for x in recs if x["settings"]["engine"] == "lite")
    assert lite["build"]["engine_version"] == "v2.13-rc" and lite["model"]["file"].endswith("_arm.nb")
    r = _cli("report", run)
    assert r.returncode == 0, r.stderr
    md = (run / "report.md").read_text()
    assert "lite" in md and "onnxruntime" in md
    assert (run / "report.html").stat().st_size > 10_000  # the plots are embedded


def test_bench_on_the_emulated_armv7_lite_cells_are_real_and_ort_says_why_not(emulator_factory, armv7_lite_build,
                                                                              lite_models, png_dir, tmp_path):
    dev = emulator_factory(arch="armv7")
    run = tmp_path / "run"
    r = _cli("bench", "--devices", dev.serial, "--model", lite_models["disc"], "--engine", "lite,onnxruntime",
             "--threads", "1,2", "--repeats", "3", "--images", png_dir, "--build", armv7_lite_build.out,
             "--no-build", "--out", run)
    recs = read_results(run / "results.jsonl")
    assert r.returncode == 1 and len(recs) == 4, r.stdout + r.stderr  # the ORT cells are error rows
    for rec in recs:
        if rec["settings"]["engine"] == "lite":
            assert rec["status"] == "ok", rec["error"]
            assert rec["build"]["abi"] == "armeabi-v7a" and rec["accuracy"]["top1_agreement"] == 1.0
            assert rec["accuracy"]["max_abs_dprob"] <= 1e-4
        else:
            assert rec["status"] == "error" and "no onnxruntime build for linux/armeabi-v7a" in rec["error"]["message"]


def test_verify_has_a_row_per_device_engine(emulator, armv8_lite_build, armv8_linux_build, lite_models, png_dir):
    from edgeclas.verify import verify

    report = verify(lite_models["trained"], png_dir, device=emulator.serial,
                    builds=[armv8_lite_build.out, armv8_linux_build.out])
    rows = {(c.engine, c.where): c for c in report.checks}
    assert rows[("paddle", "host")].status == "reference"
    for engine in ("lite", "onnxruntime"):
        c = rows[(engine, emulator.serial)]
        assert c.status == "ok" and c.top1_agreement == 1.0 and c.max_abs_diff <= 1e-4, c
    assert "v2.13-rc linux-armv8 clas_system" in rows[("lite", emulator.serial)].detail
    assert report.passed
    r = _cli("verify", lite_models["trained"], "--images", png_dir, "--device", emulator.serial, "--build",
             armv8_lite_build.out, "--build", armv8_linux_build.out, "--json")
    assert r.returncode == 0, r.stderr
    assert f'"where": "{emulator.serial}"' in r.stdout
