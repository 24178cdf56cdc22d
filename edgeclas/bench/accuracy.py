"""Accuracy on the device: its probabilities against a host reference on the same images.

A build that is fast because it is wrong (bad preprocessing, a broken kernel, a stale model) must
show up in the same table as its latency: per cell, top-1 agreement and max |Δprob| against Paddle
Inference on the host, computed with edgeclas's reference preprocessing.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ValidationError

__all__ = ["reference_probs", "compare_probs"]


def reference_probs(
    model_dir: str | os.PathLike[str], images: Sequence[str | os.PathLike[str]], engine: str = "paddle",
    *, verify: bool = True,
) -> np.ndarray:
    """Host reference probabilities ``[N, C]`` for ``images`` (Paddle Inference unless told otherwise)."""
    from ..engines import load
    from ..model_dir import ModelDir
    from ..preprocess import load_batch

    model = ModelDir.load(model_dir, verify=verify)
    predictor = load(engine, model)
    return np.asarray(predictor(load_batch(list(images), model.preprocess)), dtype=np.float64)


def compare_probs(
    device: Mapping[str, Sequence[float]], reference: Mapping[str, Sequence[float]], reference_engine: str = "paddle"
) -> dict[str, Any]:
    """The ``accuracy`` section of a result: images matched by name; a missing image or class count differs → error."""
    missing = sorted(set(reference) - set(device))
    if missing:
        raise ValidationError(
            f"device output has no prediction for {len(missing)} image(s): {', '.join(missing[:5])}",
            hint="the device run was cut short or printed fewer images than were pushed",
        )
    mismatched: list[str] = []
    max_d = 0.0
    for name in sorted(reference):
        ref = np.asarray(reference[name], dtype=np.float64)
        dev = np.asarray(device[name], dtype=np.float64)
        if ref.shape != dev.shape:
            raise ValidationError(
                f"{name}: device gave {dev.size} class probabilities, the host reference {ref.size}",
                hint="the device model and the host model differ: re-export/convert and re-deploy",
            )
        max_d = max(max_d, float(np.max(np.abs(ref - dev))) if ref.size else 0.0)
        if int(np.argmax(ref)) != int(np.argmax(dev)):
            mismatched.append(name)
    n = len(reference)
    return {
        "reference": reference_engine,
        "images": n,
        "top1_agreement": (n - len(mismatched)) / n if n else 0.0,
        "max_abs_dprob": max_d,
        "mismatched": mismatched,
    }
