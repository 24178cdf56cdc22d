"""Host engines on the shared exported model: same probabilities from Paddle (both formats) and ORT."""

from __future__ import annotations

import numpy as np
import pytest

from edgeclas import engines
from edgeclas.errors import ConfigError, ModelError
from edgeclas.model_dir import ModelDir
from edgeclas.preprocess import load_batch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def batch(model_dir, sample_images):
    return load_batch(sample_images, ModelDir.load(model_dir).preprocess)


def test_available_reports_each_engine_with_a_reason(model_dir):
    avail = engines.available(model_dir)
    assert set(engines.ENGINES) <= set(avail)
    assert avail["paddle"][0] and avail["onnxruntime"][0], avail
    assert all(isinstance(reason, str) and reason for _, reason in avail.values())


@pytest.mark.parametrize("name, opts", [("paddle", {"fmt": "pir"}), ("paddle", {"fmt": "legacy"}),
                                        ("paddle", {"onednn": False}), ("onnxruntime", {"threads": 2})])
def test_engine_matches_paddle_pir(model_dir, batch, name, opts):
    ref = engines.load("paddle", model_dir, fmt="pir")(batch)
    probs = engines.load(name, model_dir, **opts)(batch)
    assert probs.shape == (len(batch), 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)  # the export appends softmax
    assert np.abs(probs - ref).max() <= 1e-5


def test_dynamic_batch_gives_per_image_results(model_dir, batch):
    for name in ("paddle", "onnxruntime"):
        p = engines.load(name, model_dir)
        whole = p(batch)
        one_by_one = np.concatenate([p(batch[i : i + 1]) for i in range(len(batch))])
        assert np.abs(whole - one_by_one).max() <= 1e-5, name


def test_wrong_batch_shape_is_a_model_error(model_dir):
    p = engines.load("onnxruntime", model_dir)
    with pytest.raises(ModelError, match=r"takes \[N, 3, 64, 64\]"):
        p(np.zeros((1, 3, 32, 32), np.float32))


def test_unknown_engine_names_the_choices(model_dir):
    with pytest.raises(ConfigError, match="unknown engine 'tensorrt'") as e:
        engines.load("tensorrt", model_dir)
    assert "onnxruntime" in e.value.hint
