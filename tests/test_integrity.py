"""Nothing wrong goes unnoticed (issue 12): tampered or truncated files, and hostile manifest values.

Every input is made here from the real test model: a byte flipped in ``model.onnx``, a truncated
``pir/inference.pdiparams`` or ``model.pdparams``, an empty checkpoint, a manifest value no stage
can use. Each must be one ``error:``/``hint:`` pair naming the file (and key), never a traceback and
never a prediction; ``--no-verify`` skips the manifest check but the engines' own failures are still
clear errors.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeclas.cli import cli
from edgeclas.errors import ConversionError, ModelError, ValidationError
from edgeclas.manifest import read_manifest

pytestmark = pytest.mark.integration


def _run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_error(r, code: int, *needles: str) -> None:
    """Exit ``code`` with an ``error:`` line containing every needle, a ``hint:`` line, no traceback."""
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and not isinstance(r.exception, Exception)
    err = [ln for ln in r.output.splitlines() if ln.startswith("error: ")]
    assert len(err) == 1, r.output
    for n in needles:
        assert n in err[0], r.output
    assert any(ln.startswith("hint: ") for ln in r.output.splitlines()), r.output


@pytest.fixture
def model(model_dir, tmp_path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / "model"))


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path, n: int = 1000) -> int:
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:n])
    return size


def test_a_byte_flipped_onnx_model_is_refused_before_it_predicts(model, sample_images):
    _flip(model / "model.onnx")
    r = _run("predict", model, "--images", sample_images[0], "--engine", "onnxruntime")
    _one_error(r, ModelError.exit_code, f"{model / 'model.onnx'}: changed since the manifest was written")
    assert "--no-verify" in r.output and f"edgeclas convert {model} --to onnx" in r.output
    # verify too: a damaged file is an error of the whole run, never an engine quietly skipped
    r = _run("verify", model, "--images", sample_images[0])
    _one_error(r, ModelError.exit_code, "model.onnx: changed since the manifest was written")


def test_truncated_pir_params_predict_and_verify(model, sample_images):
    size = _truncate(model / "pir" / "inference.pdiparams")
    for verb in ("predict", "verify"):
        r = _run(verb, model, "--images", sample_images[0])
        _one_error(r, ModelError.exit_code, f"pir/inference.pdiparams: truncated: 1000 bytes, the manifest says {size}")
    # --no-verify hands the file to Paddle, whose own failure is still one clear error naming it
    for verb in ("predict", "verify"):
        r = _run(verb, model, "--images", sample_images[0], "--no-verify")
        code = ModelError.exit_code if verb == "predict" else ValidationError.exit_code
        _one_error(r, code, "pir/inference.json + inference.pdiparams: Paddle Inference cannot load it")


def test_convert_to_onnx_from_truncated_params_fails_and_records_nothing(model):
    before = read_manifest(model, "model")
    (model / "model.onnx").unlink()
    _truncate(model / "pir" / "inference.pdiparams")
    r = _run("convert", model, "--to", "onnx")
    _one_error(r, ModelError.exit_code, "pir/inference.pdiparams: truncated")
    # without the manifest check paddle2onnx exits 0 on it; the written model is checked and refused
    r = _run("convert", model, "--to", "onnx", "--no-verify")
    _one_error(r, ConversionError.exit_code, "paddle2onnx wrote an unusable model.onnx")
    assert not (model / "model.onnx").exists()
    assert read_manifest(model, "model")["files"] == before["files"]


@pytest.mark.parametrize("key, value, needle", [
    ("crop_size", "abc", "preprocess.crop_size: 'abc' is not an integer"),
    ("resize_short", -5, "preprocess.resize_short: -5 is outside 1..16384"),
    ("scale", 1e39, "preprocess.scale: scale 1e+39"),
    ("mean", [3e38, 0.456, 0.406], "preprocess.mean: scale"),
    ("std", [1e-45, 0.224, 0.225], "preprocess.std: scale"),
    ("channel_order", 7, "preprocess.channel_order: 7 is not RGB or BGR"),
])
def test_manifest_values_are_checked_on_read(model, sample_images, tmp_path, key, value, needle):
    m = json.loads((model / "manifest.json").read_text())
    m["preprocess"][key] = value
    (model / "manifest.json").write_text(json.dumps(m))
    where = f"{model / 'manifest.json'}: {needle}"
    for args in (["predict", model, "--images", sample_images[0]],
                 ["verify", model, "--images", sample_images[0]],
                 ["convert", model, "--to", "onnx"],
                 # deploy reads the model before it looks for a device: no device needed to see the error
                 ["deploy", "--device", "no-such-device", "--model", model, "--images", sample_images[0],
                  "--out", tmp_path / "r.json"]):
        _one_error(_run(*args), ModelError.exit_code, where)


@pytest.mark.parametrize("mutate, needle", [
    (lambda m: m["model"].update(class_num="2"), "model.class_num: '2' is not an integer"),
    (lambda m: m["model"].update(input_size=[3, 64]), "model.input_size: [3, 64] is not [C, H, W]"),
    (lambda m: m["model"].update(input_size=[3, 32, 32]), "preprocess.crop_size: 64 does not give the model's input"),
    (lambda m: m.update(labels=["only one"]), "labels: 1 labels for model.class_num 2"),
    (lambda m: m.update(formats=[]), "formats: is not an object"),
    (lambda m: m["formats"].update(nb={"arm": "nb/m.nb"}), "formats.nb.arm: is not an object with a 'file'"),
    (lambda m: m.update(files=list(m["files"])), "files: not an object of relative path → str"),
    (lambda m: m["sizes"].update({"model.onnx": "12"}), "sizes: not an object of relative path → int"),
])
def test_model_section_values_are_checked_on_read(model, sample_images, mutate, needle):
    m = json.loads((model / "manifest.json").read_text())
    mutate(m)
    (model / "manifest.json").write_text(json.dumps(m))
    _one_error(_run("predict", model, "--images", sample_images[0]), ModelError.exit_code, needle)


def _checkpoint(model: Path, tmp_path: Path) -> Path:
    src = Path(read_manifest(model, "model")["inputs"]["checkpoint"])
    return Path(shutil.copytree(src, tmp_path / "ckpt"))


@pytest.mark.parametrize("size", [0, 500])
def test_eval_and_export_of_a_truncated_or_empty_checkpoint(model, tmp_path, size):
    ckpt = _checkpoint(model, tmp_path)
    full = _truncate(ckpt / "model.pdparams", size)
    r = _run("eval", ckpt)
    _one_error(r, ModelError.exit_code, f"model.pdparams: truncated: {size} bytes, the manifest says {full}")
    assert "Aborted" not in r.output
    r = _run("eval", ckpt, "--no-verify")  # paddle.load's own failure: "Aborted!" (EOFError) before
    what = "empty file (0 bytes)" if size == 0 else "not a readable .pdparams file"
    _one_error(r, ModelError.exit_code, f"{ckpt / 'model.pdparams'}: {what}")
    assert "Aborted" not in r.output
    r = _run("export", ckpt, "--out", tmp_path / "m", "--no-verify")
    _one_error(r, ModelError.exit_code, "model.pdparams")
    assert not (tmp_path / "m").exists()


def test_export_refuses_a_tampered_checkpoint_and_checks_what_it_wrote(model, tmp_path):
    ckpt = _checkpoint(model, tmp_path)
    _flip(ckpt / "model.pdparams")
    r = _run("export", ckpt, "--out", tmp_path / "m")
    _one_error(r, ModelError.exit_code, "model.pdparams: changed since the manifest was written")
    assert not (tmp_path / "m").exists()


def test_a_model_dir_made_by_export_and_convert_verifies_whole(model):
    m = read_manifest(model, "model")
    assert set(m["sizes"]) == set(m["files"]) and all((model / f).stat().st_size == n for f, n in m["sizes"].items())
