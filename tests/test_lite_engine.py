"""The host ``lite`` engine: x86 ``.nb`` through MobileConfig in a worker; parity with Paddle, zero detection."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgeclas import engines
from edgeclas.errors import ConversionError, ValidationError
from edgeclas.lite import convert_nb
from edgeclas.manifest import read_manifest
from edgeclas.model_dir import ModelDir
from edgeclas.preprocess import load_batch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny_x86(tiny_lite_models, lite_runtime, tmp_path_factory) -> ModelDir:
    md = Path(shutil.copytree(tiny_lite_models["reshape"], tmp_path_factory.mktemp("tiny") / "tiny_reshape"))
    convert_nb(md, target="x86")
    return ModelDir.load(md)


def test_lite_matches_paddle_on_real_images(tiny_x86, sample_images):
    batch = load_batch(sample_images, tiny_x86.preprocess)
    ref = engines.load("paddle", tiny_x86)(batch)
    lite = engines.load("lite", tiny_x86)
    try:
        probs = lite(batch)
        one = lite(batch[1:2])  # the batch size changes between calls
    finally:
        lite.close()
    assert lite.version == "v2.13-rc" and lite.source == "nb/tiny_reshape_x86.nb"
    assert np.abs(ref - ref.mean(axis=0)).max() > 1e-3, "the images must give different outputs for this to mean much"
    assert np.abs(probs - ref).max() <= 1e-4
    assert np.abs(one - ref[1:2]).max() <= 1e-4


def test_lite_matches_paddle_on_the_shared_model(model_dir, sample_images, lite_runtime, monkeypatch):
    monkeypatch.delenv("EDGECLAS_LITE_OPT", raising=False)
    convert_nb(model_dir, target="x86")
    md = ModelDir.load(model_dir)
    batch = load_batch(sample_images, md.preprocess)
    ref = engines.load("paddle", md)(batch)
    lite = engines.load("lite", md, threads=2)
    try:
        assert np.abs(lite(batch) - ref).max() <= 1e-4
    finally:
        lite.close()
    ok, why = engines.available(md)["lite"]
    assert ok and "compat route" in why


def test_numpy2_in_the_worker_is_refused_not_returned(tiny_x86, sample_images, lite_runtime):
    # Deliberately the broken setup users hit: the 3.10 wheel with this interpreter's numpy 2.
    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip(f"this environment has numpy {np.__version__}; the failure needs numpy 2 on the worker's path")
    numpy2_route = replace(lite_runtime, python_paths=lite_runtime.python_paths[1:])
    lite = engines.load("lite", tiny_x86, route=numpy2_route)
    try:
        assert lite.numpy_version.startswith("2.")
        with pytest.raises(ValidationError, match="all-zero|NaN|read the input batch wrongly") as e:
            lite(load_batch(sample_images, tiny_x86.preprocess))
        assert "numpy < 2" in e.value.hint
    finally:
        lite.close()


def test_lite_is_unavailable_without_an_x86_nb(tiny_lite_models, lite_runtime):
    ok, why = engines.available(tiny_lite_models["reshape"])["lite"]
    assert not ok and "--target x86" in why


def test_all_zero_outputs_are_refused(tiny_lite_models, sample_images, lite_runtime, tmp_path, monkeypatch):
    md = Path(shutil.copytree(tiny_lite_models["zeros"], tmp_path / "tiny_zeros"))
    with pytest.raises(ConversionError, match="all-zero"):
        convert_nb(md, target="x86")  # convert runs what it wrote and refuses to record it
    assert "nb" not in read_manifest(md)["formats"] and not list((md / "nb").glob("*.nb"))
    import edgeclas.engines.lite

    monkeypatch.setattr(edgeclas.engines.lite, "check_nb", lambda *args: "not run (test)")
    convert_nb(md, target="x86")  # recorded without that check: the engine still refuses its outputs
    model = ModelDir.load(md)
    lite = engines.load("lite", model)
    try:
        with pytest.raises(ValidationError, match="all-zero"):
            lite(load_batch(sample_images[:2], model.preprocess))
    finally:
        lite.close()


def test_rewritten_flatten_model_matches_paddle(tiny_lite_models, sample_images, lite_runtime, tmp_path):
    md = Path(shutil.copytree(tiny_lite_models["flatten"], tmp_path / "tiny_flatten"))
    convert_nb(md, target="x86")  # opt gets flatten_contiguous_range rewritten as reshape
    model = ModelDir.load(md)
    batch = load_batch(sample_images, model.preprocess)
    ref = engines.load("paddle", model)(batch)  # Paddle runs the original program
    lite = engines.load("lite", model)
    try:
        assert np.abs(lite(batch) - ref).max() <= 1e-4
    finally:
        lite.close()


def test_a_truncated_nb_is_a_damaged_file_not_a_runtime_failure(tiny_x86, sample_images, tmp_path):
    from edgeclas.errors import ModelError
    from edgeclas.predict import predict

    md = Path(shutil.copytree(tiny_x86.path, tmp_path / "m"))
    nb = md / "nb" / "tiny_reshape_x86.nb"
    size = nb.stat().st_size
    nb.write_bytes(nb.read_bytes()[: size // 2])
    with pytest.raises(ModelError, match=f"tiny_reshape_x86.nb: truncated: {size // 2} bytes, the manifest says {size}"):
        list(predict(md, sample_images[0], engine="lite"))
    # without the manifest check, the file itself is read before Paddle Lite sees it: never "check the runtime"
    with pytest.raises(ModelError, match=r"tiny_reshape_x86.nb: not a complete Paddle Lite .nb \(") as e:
        list(predict(md, sample_images[0], engine="lite", verify=False))
    assert "the file is damaged, not the runtime" in e.value.hint and "doctor" not in e.value.hint
    assert f"edgeclas convert {md} --to nb --target x86" in e.value.hint
