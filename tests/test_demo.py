"""``edgeclas demo`` (what ``make demo`` runs), end to end on the embedded default.

The pipeline's own behaviour (skips, resume, foreign folders) is tested in test_pipeline.py; this
checks the user-visible contract of the demo: the folders and their manifests, the verify table with
all three host engines, the device's predictions, and where everything is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeclas.cli import cli
from edgeclas.manifest import check_files, read_manifest
from edgeclas.model_dir import ModelDir

pytestmark = pytest.mark.integration


def test_demo_writes_data_runs_model_and_prints_the_verify_table(tmp_path, lite_runtime):
    # lite_runtime: the demo converts .nb files, and no verb installs the Lite runtime itself (sdk install does)
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--num-images", "40", "-o", "Global.epochs=1"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    for sub, kind in (("data", "dataset"), ("runs", "run"), ("model", "model")):
        m = read_manifest(out / sub, kind)
        assert check_files(out / sub, m) == [], sub
    model = ModelDir.load(out / "model")
    assert model.has("legacy") and model.has("pir") and model.has("onnx")
    assert model.dataset_root == out / "data" and model.val_list.is_file()
    assert "onnxruntime" in r.output and "reference" in r.output and "max |Δprob|" in r.output
    # All three host engines agree in the verify table (the x86 .nb feeds the lite engine).
    verify_rows = {line.split("│")[1].strip(): line for line in r.output.splitlines() if line.count("│") > 4}
    assert {"paddle", "onnxruntime", "lite"} <= set(verify_rows), r.output
    assert "ok" in verify_rows["lite"] and "ok" in verify_rows["onnxruntime"]
    # The predictions the emulated device made are printed, one row per deployed image.
    deployed = json.loads((out / "deploy" / "result.json").read_text())["run"]["predictions"]
    assert "predictions on 127.0.0.1:" in r.output
    truth = {ln.split()[0]: int(ln.split()[1]) for ln in (out / "data" / "val_list.txt").read_text().splitlines()}
    sources = json.loads((out / "deploy" / "result.json").read_text())["bundle"]["image_sources"]
    for p in deployed:
        row = next(line for line in r.output.splitlines() if p["image"] in line)
        assert p["topk"][0]["label"] in row and f"{p['topk'][0]['score']:.4f}" in row
        # the image's own label from the validation list, marked right or wrong
        want = model.labels[truth[str(Path(sources[p["image"]]).relative_to(out / "data"))]]
        assert want in row.split("│")[-2] and ("✓" in row) == (p["topk"][0]["label"] == want)
    for sub in ("data", "runs", "model"):
        assert str(out / sub) in r.output
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    assert all(s["status"] == "done" for s in stages.values()), stages
    # The bench matrix has Paddle Lite (built from source, tailored to the demo model) beside ONNX Runtime,
    # or says at the build stage why Lite is missing.
    from edgeclas.bench.results import read_results
    from edgeclas.lite.source_build import default_source

    ok = {(r["settings"]["engine"], r["settings"]["threads"]) for r in read_results(out / "bench" / "results.jsonl")
          if r["status"] == "ok"}
    if default_source() is not None:
        assert ok == {(e, t) for e in ("onnxruntime", "lite") for t in (1, 2)}, ok
        lib = read_manifest(out / "build" / "linux-armv8-lite", "build")["engine"]["library"]
        needed = read_manifest(out / "model", "model")["formats"]["nb"]["arm"]["kernels"]
        assert lib["route"] == "source" and sorted(lib["tailored_kernels"]) == sorted(needed)  # tailored to it
    else:
        assert ok == {("onnxruntime", 1), ("onnxruntime", 2)} and "lite skipped" in stages["build"]["summary"]
