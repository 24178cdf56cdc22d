"""``edgeclas verify``: engines agree on the real model; a corrupted ONNX is caught with exit 8."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edgeclas.cli import cli
from edgeclas.errors import ConfigError, ValidationError
from edgeclas.verify import verify

pytestmark = pytest.mark.integration


def test_paddle_and_onnxruntime_agree_within_1e4(model_dir, sample_images):
    report = verify(model_dir, sample_images)
    by = {c.engine: c for c in report.checks}
    assert by["paddle"].status == "reference"
    assert by["onnxruntime"].status == "ok", by["onnxruntime"]
    assert by["onnxruntime"].max_abs_diff <= 1e-4 and by["onnxruntime"].top1_agreement == 1.0
    assert report.passed and len(report.images) == len(sample_images)
    report.raise_for_failures()


def test_cli_prints_the_table_and_exits_zero(model_dir, sample_images):
    r = CliRunner().invoke(cli, ["verify", str(model_dir), "--images", str(sample_images[0].parent)])
    assert r.exit_code == 0, r.output
    assert "onnxruntime" in r.output and "reference" in r.output and "max |Δprob|" in r.output


def _corrupt_onnx(model_dir, dst):
    """Copy the model and shift the classifier's bias (the initializer of shape [class_num]) in its ONNX graph."""
    import onnx
    from onnx import numpy_helper

    from edgeclas.manifest import update_manifest

    shutil.copytree(model_dir, dst)
    m = onnx.load(str(dst / "model.onnx"))
    (init,) = [t for t in m.graph.initializer if list(t.dims) == [2] and t.data_type == onnx.TensorProto.FLOAT]
    arr = numpy_helper.to_array(init)
    init.CopyFrom(numpy_helper.from_array((arr + np.array([1.0, -1.0])).astype(arr.dtype), init.name))
    onnx.save(m, str(dst / "model.onnx"))
    update_manifest(dst, "model", lambda manifest: ["model.onnx"])  # recorded (hash and size) as convert does
    return dst


def test_cli_json_report(model_dir, sample_images):
    r = CliRunner().invoke(cli, ["verify", str(model_dir), "-i", str(sample_images[0]), "--engines", "onnxruntime", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["passed"] is True and rep["images"] == [str(sample_images[0])]
    assert [c["engine"] for c in rep["checks"]] == ["paddle", "onnxruntime"]


def test_corrupted_onnx_is_a_mismatch_with_exit_8(model_dir, sample_images, tmp_path):
    bad = _corrupt_onnx(model_dir, tmp_path / "bad")
    report = verify(bad, sample_images)
    ort = next(c for c in report.checks if c.engine == "onnxruntime")
    assert ort.status == "mismatch" and ort.max_abs_diff > 1e-4
    with pytest.raises(ValidationError, match="onnxruntime: max |Δprob|"):
        report.raise_for_failures()
    r = CliRunner().invoke(cli, ["verify", str(bad), "--images", str(sample_images[0].parent)])
    assert r.exit_code == ValidationError.exit_code
    assert "error: " in r.output and "engines disagree with paddle beyond tol 0.0001" in r.output
    # a generous tolerance accepts the same model
    assert verify(bad, sample_images, tol=1.0).passed


@pytest.mark.parametrize("args, message", [
    (["--tol", "nan"], "--tol nan: must be a finite number >= 0"),  # nan would fail every engine silently
    (["--tol", "-1"], "--tol -1.0: must be a finite number >= 0"),
    (["--limit", "0"], "--limit 0: must be an integer >= 1"),  # 0 used to mean "every image"
])
def test_tolerance_and_limit_are_checked(model_dir, sample_images, args, message):
    r = CliRunner().invoke(cli, ["verify", str(model_dir), "--images", str(sample_images[0]), *args])
    assert r.exit_code == ConfigError.exit_code and f"error: {message}" in r.output


def test_an_engine_asked_for_but_missing_fails(model_dir, sample_images):
    report = verify(model_dir, sample_images, engines=["onnxruntime", "nosuchengine"])
    by = {c.engine: c for c in report.checks}
    assert by["nosuchengine"].status == "error" and "unknown engine" in by["nosuchengine"].detail
    assert not report.passed


def test_default_images_are_the_trained_datasets_validation_images(model_dir):
    from edgeclas.model_dir import ModelDir

    md = ModelDir.load(model_dir)
    report = verify(model_dir, limit=6)
    assert len(report.images) == 6
    assert all(p.startswith(str(md.dataset_root)) and p.endswith(".png") for p in report.images)
    assert report.passed, report.checks
