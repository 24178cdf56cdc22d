"""make_bundle: layout, manifest hashes, generated config, and the refusals (engine/model mismatch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgeclas.deploy import Bundle, RunSettings, make_bundle, render_config
from edgeclas.errors import BuildError, ConfigError, ConversionError, DataError, ModelError
from edgeclas.fsutil import sha256_file
from edgeclas.manifest import read_manifest, write_manifest

pytestmark = pytest.mark.integration  # needs the trained/exported model_dir fixture


def _images(tmp_path: Path, sample_images: list[Path]) -> Path:
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    shutil.copy(sample_images[0], d / sample_images[0].name)
    shutil.copy(sample_images[1], d / "sub" / sample_images[1].name)
    return d


def test_bundle_layout_hashes_and_config(fake_build, model_dir, sample_images, tmp_path):
    settings = RunSettings(threads=2, power_mode=1, warmup=2, repeats=5, topk=1)
    b = make_bundle(fake_build("OK"), model_dir, _images(tmp_path, sample_images), settings, tmp_path / "bundle")
    assert isinstance(b, Bundle) and b.engine == "onnxruntime"
    assert b.model_file == "model/model.onnx" and b.binary == "bin/clas_system"
    assert sorted(b.images) == sorted(["images/" + sample_images[0].name, "images/sub/" + sample_images[1].name])
    for rel, digest in b.files.items():
        assert sha256_file(b.path / rel) == digest, rel
    assert set(b.files) >= {"bin/clas_system", "config.txt", "labels.txt", "model/model.onnx", *b.images}
    assert read_manifest(b.path, "bundle")["bundle"]["settings"]["threads"] == 2
    cfg = dict(line.split(" ", 1) for line in (b.path / "config.txt").read_text().splitlines() if not line.startswith("#"))
    # every key PaddleClas's demo requires is present, and every setting is in effect
    for key in ("clas_model_file", "label_path", "resize_short_size", "crop_size", "visualize", "num_threads",
                "batch_size", "precision", "runtime_device", "enable_benchmark", "tipc_benchmark"):
        assert key in cfg, key
    pre = json.loads((Path(model_dir) / "manifest.json").read_text())["preprocess"]
    assert cfg["num_threads"] == "2" and cfg["power_mode"] == "1" and cfg["topk"] == "1"
    assert cfg["warmup"] == "2" and cfg["repeats"] == "5" and cfg["output"] == "json"
    assert int(cfg["crop_size"]) == pre["crop_size"] and int(cfg["resize_short_size"]) == pre["resize_short"]
    assert [float(x) for x in cfg["mean"].split()] == pytest.approx(pre["mean"])
    assert [float(x) for x in cfg["std"].split()] == pytest.approx(pre["std"])
    assert float(cfg["scale"]) == pytest.approx(pre["scale"])


def test_same_inputs_give_identical_files(fake_build, model_dir, sample_images, tmp_path):
    imgs = _images(tmp_path, sample_images)
    a = make_bundle(fake_build("OK"), model_dir, imgs, RunSettings(), tmp_path / "a")
    b = make_bundle(fake_build("OK"), model_dir, imgs, RunSettings(), tmp_path / "b")
    assert a.files == b.files  # so a re-deploy finds nothing to push


def test_duplicate_names_from_a_list_are_kept_apart(fake_build, model_dir, sample_images, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    p1 = shutil.copy(sample_images[0], tmp_path / "x" / "same.png")
    p2 = shutil.copy(sample_images[1], tmp_path / "y" / "same.png")
    b = make_bundle(fake_build("OK"), model_dir, [p1, p2], RunSettings(), tmp_path / "bundle")
    assert b.images == ("images/same.png", "images/same-2.png")
    assert b.files["images/same-2.png"] == sha256_file(p2)


def test_lite_build_needs_a_nb_of_the_same_version(fake_build, model_dir, tmp_path, sample_images):
    build = tmp_path / "lite-build"
    shutil.copytree(fake_build("OK"), build)
    m = read_manifest(build, "build")
    body = {k: v for k, v in m.items() if k not in ("kind", "schema", "edgeclas_version", "created", "files")}
    body["engine"] = {"name": "lite", "version": "v2.13-rc"}
    write_manifest(build, "build", body, m["files"])
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    mm = json.loads((model / "manifest.json").read_text())
    mm["formats"].pop("nb", None)
    (model / "manifest.json").write_text(json.dumps(mm))
    with pytest.raises(ModelError, match="no .nb for arm") as e:
        make_bundle(build, model, sample_images[0], RunSettings(), tmp_path / "b1")
    assert "--to nb" in e.value.hint
    (model / "nb").mkdir(exist_ok=True)  # another test may have converted the shared model already
    (model / "nb" / "clarity_arm.nb").write_bytes(b"not really a model")
    mm["formats"]["nb"] = {"arm": {"file": "nb/clarity_arm.nb", "opt_version": "v2.12", "route": "compat"}}
    mm["files"]["nb/clarity_arm.nb"] = sha256_file(model / "nb" / "clarity_arm.nb")  # recorded as convert does
    mm.setdefault("sizes", {})["nb/clarity_arm.nb"] = (model / "nb" / "clarity_arm.nb").stat().st_size
    (model / "manifest.json").write_text(json.dumps(mm))
    with pytest.raises(ConversionError, match=r"opt v2\.12 but the device build uses Paddle Lite v2\.13-rc"):
        make_bundle(build, model, sample_images[0], RunSettings(), tmp_path / "b2")
    mm["formats"]["nb"]["arm"]["opt_version"] = "2.13rc0"  # same version as v2.13-rc, spelled as the wheel does
    (model / "manifest.json").write_text(json.dumps(mm))
    b = make_bundle(build, model, sample_images[0], RunSettings(), tmp_path / "b3")
    assert b.model_file == "model/clarity_arm.nb" and b.engine == "lite"
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()  # refusals leave nothing behind


def test_onnx_build_needs_an_onnx_model(fake_build, model_dir, tmp_path, sample_images):
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    mm = json.loads((model / "manifest.json").read_text())
    del mm["formats"]["onnx"]
    (model / "manifest.json").write_text(json.dumps(mm))
    with pytest.raises(ModelError, match="has no .onnx"):
        make_bundle(fake_build("OK"), model, sample_images[0], RunSettings(), tmp_path / "b")


def test_tampered_build_and_bad_inputs_are_refused(fake_build, model_dir, tmp_path, sample_images):
    build = tmp_path / "build"
    shutil.copytree(fake_build("OK"), build)
    (build / "bin" / "clas_system").write_bytes(b"\x7fELF changed")
    with pytest.raises(BuildError, match="changed since it was made"):
        make_bundle(build, model_dir, sample_images[0], RunSettings(), tmp_path / "b")
    with pytest.raises(DataError, match="no such file"):
        make_bundle(fake_build("OK"), model_dir, tmp_path / "nope.png", RunSettings(), tmp_path / "b")
    with pytest.raises(ConfigError, match="threads"):
        make_bundle(fake_build("OK"), model_dir, sample_images[0], RunSettings(threads=0), tmp_path / "b")
    # settings read back from a hand-edited bundle manifest are type-checked, not compared blindly
    for bad, what in ((RunSettings(threads="2"), "threads='2'"), (RunSettings(repeats=True), "repeats=True"),
                      (RunSettings(timeout_s=float("nan")), "timeout_s=nan")):
        with pytest.raises(ConfigError, match=f"run setting {what} is invalid"):
            bad.validate()


def test_render_config_is_plain_key_value_lines():
    from edgeclas.preprocess import PreprocessConfig

    text = render_config("model/m.onnx", "labels.txt", PreprocessConfig(resize_short=73, crop_size=64), "onnxruntime",
                         RunSettings(threads=4))
    for line in text.splitlines():
        assert line.startswith("#") or len(line.split()) >= 2, line
    assert "\nnum_threads 4\n" in text and "\nengine onnxruntime\n" in text
