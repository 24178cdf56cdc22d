"""Export and ONNX conversion: the model directory contract, and clear errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeclas.cli import cli
from edgeclas.errors import ConfigError, ModelError
from edgeclas.manifest import check_files, read_manifest, write_manifest
from edgeclas.model_dir import ModelDir


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_export_missing_checkpoint_is_one_line_error(tmp_path):
    r = _run("export", str(tmp_path / "nope"), "--out", str(tmp_path / "m"))
    assert r.exit_code == ModelError.exit_code
    assert f"error: {tmp_path / 'nope'}: no such directory" in r.output
    assert "hint: make one with: edgeclas train" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "m").exists()


def test_export_of_a_non_checkpoint_dir_names_its_kind(tmp_path):
    write_manifest(tmp_path / "ds", "dataset", {})
    r = _run("export", str(tmp_path / "ds"), "--out", str(tmp_path / "m"))
    assert r.exit_code == ModelError.exit_code
    assert "this is a 'dataset' directory, expected a 'checkpoint' directory" in r.output


def test_export_of_a_run_dir_points_at_its_checkpoints(tmp_path):
    write_manifest(tmp_path / "run", "run", {})
    write_manifest(tmp_path / "run" / "best", "checkpoint", {})
    r = _run("export", str(tmp_path / "run"), "--out", str(tmp_path / "m"))
    assert r.exit_code == ModelError.exit_code
    assert "is a training run, not a checkpoint" in r.output and str(tmp_path / "run" / "best") in r.output


def test_export_unknown_format_lists_the_valid_ones(tmp_path):
    r = _run("export", str(tmp_path), "--out", str(tmp_path / "m"), "--format", "legacy,tflite")
    assert r.exit_code == ConfigError.exit_code
    assert "unknown export format(s): tflite" in r.output and "legacy, pir" in r.output


def test_export_never_replaces_a_folder_that_is_not_a_model(tmp_path):
    write_manifest(tmp_path / "ckpt", "checkpoint", {})
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    r = _run("export", str(tmp_path / "ckpt"), "--out", str(tmp_path / "home"))
    assert r.exit_code == ConfigError.exit_code
    assert "exists and is not a model directory" in r.output
    assert (tmp_path / "home" / "notes.txt").read_text() == "mine"


def test_model_dir_rejects_a_malformed_manifest(tmp_path):
    write_manifest(tmp_path, "model", {"model": {"arch": "PPLCNet_x0_25"}})
    with pytest.raises(ModelError, match=r"manifest.json: model.class_num: None is not an integer"):
        ModelDir.load(tmp_path)


def test_convert_of_a_missing_model_dir_is_a_model_error(tmp_path):
    r = _run("convert", str(tmp_path / "none"), "--to", "onnx")
    assert r.exit_code == ModelError.exit_code and "no such directory" in r.output


def test_onnx_conversion_refuses_to_start_without_its_helpers(tmp_path, monkeypatch):
    # paddle2onnx would pip-install onnx_graphsurgeon mid-conversion; edgeclas stops first and says how.
    import importlib.util

    from edgeclas.errors import ToolchainError
    from edgeclas.onnx_convert import convert_onnx
    from edgeclas.preprocess import PreprocessConfig

    write_manifest(tmp_path, "model", {"model": {"arch": "PPLCNet_x0_25", "class_num": 2, "input_size": [3, 64, 64]},
                                       "preprocess": PreprocessConfig(73, 64).to_dict(), "labels": ["a", "b"]})
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx_graphsurgeon" else real(name, *a))
    with pytest.raises(ToolchainError, match="needs onnx_graphsurgeon") as e:
        convert_onnx(tmp_path)
    assert e.value.hint == "pip install 'edgeclas[paddle]'"
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.integration
def test_model_dir_fixture_honours_the_artifact_contract(model_dir):
    m = read_manifest(model_dir, "model")
    assert check_files(model_dir, m) == []
    md = ModelDir.load(model_dir)
    assert md.input_size == (3, 64, 64) and md.class_num == 2
    assert md.preprocess.crop_size == 64 and md.preprocess.resize_short == 73
    for fmt in ("legacy", "pir"):
        prog, params = md.paddle_files(fmt)
        assert prog.stat().st_size > 0 and params.stat().st_size > 0
    assert md.paddle_files("legacy")[0].suffix == ".pdmodel" and md.paddle_files("pir")[0].suffix == ".json"
    assert set(m["files"]) >= {"legacy/inference.pdmodel", "pir/inference.json", "model.onnx", "labels.txt"}
    lines = md.labels_file.read_text().splitlines()
    assert lines == [f"{i} {name}" for i, name in enumerate(md.labels)]
    assert m["paddle_version"] and m["formats"]["onnx"]["opset"] == 13
    ckpt = read_manifest(m["inputs"]["checkpoint"], "checkpoint")  # made by real training
    assert ckpt["epoch"] >= 1 and ckpt["model"]["arch"] == md.arch


@pytest.mark.integration
def test_onnx_has_a_symbolic_batch_and_the_asked_opset(model_dir):
    import onnx

    m = onnx.load(str(ModelDir.load(model_dir).onnx_file))
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [13]
    for values in (m.graph.input, m.graph.output):
        dim0 = values[0].type.tensor_type.shape.dim[0]
        assert dim0.dim_param and not dim0.dim_value


@pytest.mark.integration
def test_reconvert_with_another_opset_updates_the_manifest(model_dir, tmp_path):
    copy = Path(shutil.copytree(model_dir, tmp_path / "m"))
    r = _run("convert", str(copy), "--to", "onnx", "--opset", "11")
    assert r.exit_code == 0, r.output
    m = read_manifest(copy, "model")
    assert m["formats"]["onnx"]["opset"] == 11 and check_files(copy, m) == []
    assert not list(copy.glob(".model.onnx*"))  # no temporary left behind


@pytest.mark.integration
def test_export_failure_leaves_no_output(model_dir, tmp_path):
    # A checkpoint whose manifest says 3 classes while the weights have 2: the child must fail
    # on the mismatch, and nothing may appear at --out.
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    src = read_manifest(model_dir, "model")
    shutil.copy(model_dir / "pir" / "inference.pdiparams", ckpt / "model.pdparams")  # not a state dict either
    write_manifest(ckpt, "checkpoint", {
        "model": {"arch": src["model"]["arch"], "class_num": 3, "input_size": [3, 64, 64], "arch_kwargs": {}},
        "preprocess": src["preprocess"], "labels": ["a", "b", "c"],
    }, files=["model.pdparams"])
    r = _run("export", str(ckpt), "--out", str(tmp_path / "out"))
    assert r.exit_code == ModelError.exit_code, r.output
    assert r.output.startswith(f"error: exporting {ckpt} to legacy failed: ")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


@pytest.mark.integration
def test_export_cli_writes_only_the_requested_format(model_dir, tmp_path):
    ckpt = Path(json.loads((model_dir / "manifest.json").read_text())["inputs"]["checkpoint"])
    if not ckpt.is_dir():
        pytest.skip(f"the fixture's checkpoint {ckpt} is gone")
    r = _run("export", str(ckpt), "--out", str(tmp_path / "pir_only"), "--format", "pir")
    assert r.exit_code == 0, r.output
    md = ModelDir.load(tmp_path / "pir_only")
    assert md.has("pir") and not md.has("legacy") and md.name == "pir_only"
    with pytest.raises(ModelError, match="has no 'legacy' format"):
        md.paddle_files("legacy")


@pytest.mark.integration
@pytest.mark.parametrize("arch", ["PPLCNet_x0_25", "PPLCNetV2_base", "MobileNetV3_small_x0_35"])
def test_every_family_exports_legacy_and_matches_dygraph(arch, tmp_path, sample_images):
    """Paddle Lite's opt reads legacy programs only, so each family must trace into one; the exported
    program (PP-LCNetV2 re-parameterised) must compute what the trained network computes."""
    import numpy as np
    import paddle

    from edgeclas import engines
    from edgeclas.export import export
    from edgeclas.models import build_model
    from edgeclas.preprocess import PreprocessConfig, load_batch

    paddle.seed(1)
    net = build_model(arch, 3)
    net.eval()
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    paddle.save(net.state_dict(), str(ckpt / "model.pdparams"))
    pre = PreprocessConfig(73, 64)
    write_manifest(ckpt, "checkpoint", {
        "model": {"arch": arch, "class_num": 3, "input_size": [3, 64, 64], "arch_kwargs": {}},
        "preprocess": pre.to_dict(), "labels": ["a", "b", "c"],
    }, files=["model.pdparams"])
    model = export(ckpt, tmp_path / "model", formats=("legacy",))
    batch = load_batch(sample_images, pre)
    with paddle.no_grad():
        want = paddle.nn.functional.softmax(net(paddle.to_tensor(batch)), axis=-1).numpy()
    got = engines.load("paddle", model, fmt="legacy", onednn=False)(batch)
    assert np.abs(got - want).max() <= 1e-4
