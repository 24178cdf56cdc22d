"""Pieces every backbone shares: channel rounding and the classifier head."""

from __future__ import annotations

__all__ = ["make_divisible", "make_act", "flatten_to_classifier", "sigmoid"]


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor`` (never more than 10 % below ``v``).

    The same rounding PaddleClas uses, so every scale gets the channel counts (and therefore the
    parameter shapes) of the published checkpoints.
    """
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def make_act(name: str | None):
    import paddle.nn as nn

    acts = {"hardswish": nn.Hardswish, "relu": nn.ReLU, "relu6": nn.ReLU6}
    if name is None:
        return None
    if name not in acts:
        from ..errors import ConfigError

        raise ConfigError(f"unsupported activation '{name}'", hint=f"use one of: {', '.join(acts)}")
    return acts[name]()


def flatten_to_classifier(x):
    """N×C×1×1 → N×C with ``reshape`` (dim 0 kept): Paddle Lite's opt segfaults on
    ``flatten_contiguous_range`` for the x86 target, while ``reshape2`` converts everywhere."""
    import paddle

    return paddle.reshape(x, [0, -1])


def sigmoid(x):
    """``sigmoid`` that also traces into a legacy (non-PIR) program.

    In Paddle 3.3.1 ``F.sigmoid`` (like ``exp``/``tanh``) calls the PIR-only C op even while
    ``paddle.jit.save`` traces a legacy program (``FLAGS_enable_pir_api=0``, what Paddle Lite's opt
    reads) and fails with "must be Value, but got Variable"; there the op is appended the legacy way.
    """
    import paddle
    import paddle.nn.functional as F

    if paddle.in_dynamic_mode() or paddle.framework.in_pir_mode():
        return F.sigmoid(x)
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper("sigmoid")
    out = helper.create_variable_for_type_inference(x.dtype)
    helper.append_op(type="sigmoid", inputs={"X": x}, outputs={"Out": out})
    return out
