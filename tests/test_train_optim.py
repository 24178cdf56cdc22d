"""Learning-rate schedule and loss against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

paddle = pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")

from edgeclas.train.loss import build_loss  # noqa: E402
from edgeclas.train.optim import build_optimizer  # noqa: E402


def _lrs(cfg, steps_per_epoch, epochs):
    layer = paddle.nn.Linear(2, 2)
    opt, sched = build_optimizer(cfg, layer.parameters(), steps_per_epoch, epochs)
    out = []
    for _ in range(steps_per_epoch * epochs):
        out.append(opt.get_lr())
        sched.step()
    return out


def test_linear_warmup_then_cosine_to_eta_min():
    cfg = {"momentum": 0.9, "regularizer": {"name": "L2", "coeff": 1e-4},
           "lr": {"name": "Cosine", "learning_rate": 0.1, "eta_min": 0.0, "warmup_epoch": 1, "warmup_start_lr": 0.02}}
    lrs = _lrs(cfg, steps_per_epoch=4, epochs=3)  # 4 warm-up steps, then 8 cosine steps
    np.testing.assert_allclose(lrs[:4], [0.02, 0.04, 0.06, 0.08], rtol=1e-6)
    cosine = [0.05 * (1 + math.cos(math.pi * t / 8)) for t in range(8)]
    np.testing.assert_allclose(lrs[4:], cosine, rtol=1e-6)


def test_no_warmup_is_plain_cosine():
    cfg = {"momentum": 0.9, "regularizer": {"name": "L2", "coeff": 0.0},
           "lr": {"name": "Cosine", "learning_rate": 0.2, "eta_min": 0.01, "warmup_epoch": 0, "warmup_start_lr": 0.0}}
    lrs = _lrs(cfg, steps_per_epoch=2, epochs=2)
    np.testing.assert_allclose(lrs, [0.01 + 0.19 * 0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(4)], rtol=1e-6)


def test_cross_entropy_with_label_smoothing_hand_computed():
    logits = paddle.to_tensor(np.array([[2.0, 0.0], [0.0, 1.0]], np.float32))
    labels = paddle.to_tensor(np.array([0, 0], np.int64))
    logp = np.log(np.exp([[2.0, 0.0], [0.0, 1.0]]) / np.exp([[2.0, 0.0], [0.0, 1.0]]).sum(1, keepdims=True))
    plain = -np.mean(logp[:, 0])
    # epsilon 0.2 over 2 classes: targets (0.9, 0.1)
    smooth = -np.mean(0.9 * logp[:, 0] + 0.1 * logp[:, 1])
    assert float(build_loss([{"CELoss": {"weight": 1.0}}], 2)(logits, labels)) == pytest.approx(plain, rel=1e-6)
    got = float(build_loss([{"CELoss": {"weight": 0.5, "epsilon": 0.2}}], 2)(logits, labels))
    assert got == pytest.approx(0.5 * smooth, rel=1e-6)


def test_clip_norm_limits_each_gradient_tensor():
    layer = paddle.nn.Linear(4, 1, bias_attr=False)
    layer.weight.set_value(np.zeros((4, 1), np.float32))
    cfg = {"momentum": 0.0, "regularizer": {"name": "L2", "coeff": 0.0}, "clip_norm": 0.5,
           "lr": {"name": "Cosine", "learning_rate": 1.0, "eta_min": 1.0, "warmup_epoch": 0, "warmup_start_lr": 0.0}}
    opt, _ = build_optimizer(cfg, layer.parameters(), 1, 1)
    x = paddle.to_tensor(np.full((1, 4), 10.0, np.float32))  # gradient (10, 10, 10, 10), norm 20
    layer(x).sum().backward()
    opt.step()
    np.testing.assert_allclose(layer.weight.numpy().ravel(), [-0.25] * 4, rtol=1e-5)  # step of norm 0.5
