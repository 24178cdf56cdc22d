"""PaddleClas's batch operators (``DataLoader.Train.dataset.batch_transform_ops``): Mixup, CutMix, OpSampler.

An op takes a whole batch ``(images N×C×H×W float32, targets N×K float32, rng)`` and returns it mixed;
targets are one-hot rows for single-label data (multi-hot for multi-label), so the mixed targets are
soft labels that ``CELoss`` (or ``MultiLabelLoss``) takes as they are. Every draw comes from ``rng``.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["MixupOperator", "CutmixOperator", "OpSampler", "BATCH_OPS", "build_batch_transform"]


def _alpha(alpha: Any, where: str) -> float:
    from .transforms import parse_number

    a = parse_number(alpha, f"{where}.alpha")
    if a <= 0:
        raise ConfigError(f"{where}.alpha must be > 0, got {a}")
    return a


class MixupOperator:
    """mixup: ``λ ~ Beta(alpha, alpha)``; each image becomes ``λ·x + (1-λ)·x[perm]``, its target likewise."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = _alpha(alpha, "MixupOperator")

    def __call__(self, x: np.ndarray, t: np.ndarray, rng: np.random.Generator):
        perm = rng.permutation(len(x))
        lam = float(rng.beta(self.alpha, self.alpha))
        return (lam * x + (1 - lam) * x[perm]).astype(np.float32), (lam * t + (1 - lam) * t[perm]).astype(np.float32)


class CutmixOperator:
    """CutMix: ``λ ~ Beta(alpha, alpha)``; one box of ``√(1-λ)`` of each side (centre uniform, clipped)
    is pasted from ``x[perm]`` into every image; targets mix by the box's actual share of the image."""

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = _alpha(alpha, "CutmixOperator")

    def box(self, h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
        cut = np.sqrt(1.0 - lam)
        ch, cw = int(h * cut), int(w * cut)
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        y1, y2 = (int(v) for v in np.clip([cy - ch // 2, cy + ch // 2], 0, h))
        x1, x2 = (int(v) for v in np.clip([cx - cw // 2, cx + cw // 2], 0, w))
        return y1, y2, x1, x2

    def __call__(self, x: np.ndarray, t: np.ndarray, rng: np.random.Generator):
        perm = rng.permutation(len(x))
        lam = float(rng.beta(self.alpha, self.alpha))
        h, w = x.shape[2:]
        y1, y2, x1, x2 = self.box(h, w, lam, rng)
        x = x.copy()
        x[:, :, y1:y2, x1:x2] = x[perm, :, y1:y2, x1:x2]
        lam = 1.0 - (y2 - y1) * (x2 - x1) / float(h * w)
        return x, (lam * t + (1 - lam) * t[perm]).astype(np.float32)


class OpSampler:
    """One of its ops per batch, chosen by each op's ``prob`` (the rest of the probability: no op).
    Written as PaddleClas does: ``OpSampler: {MixupOperator: {alpha: 0.8, prob: 0.5}, CutmixOperator: {…}}``."""

    def __init__(self, **ops: Any) -> None:
        self.ops, probs = [], []
        for name, args in ops.items():
            args = dict(args or {})
            if name not in _MIXERS:
                raise ConfigError(f"OpSampler: unknown op '{name}'", hint=_near(name, list(_MIXERS)))
            if "prob" not in args:
                raise ConfigError(f"OpSampler.{name}: needs a 'prob' (the share of batches it mixes)")
            prob = float(args.pop("prob"))
            self.ops.append(_build(name, args, f"OpSampler.{name}"))
            probs.append(prob)
        if any(p < 0 for p in probs) or sum(probs) > 1 + 1e-9:
            raise ConfigError(f"OpSampler: probabilities must be ≥ 0 and sum to at most 1, got {probs}")
        self.probs = probs + [max(0.0, 1.0 - sum(probs))]

    def __call__(self, x: np.ndarray, t: np.ndarray, rng: np.random.Generator):
        i = int(rng.choice(len(self.probs), p=np.asarray(self.probs) / sum(self.probs)))
        return (x, t) if i == len(self.ops) else self.ops[i](x, t, rng)


_MIXERS: dict[str, type] = {"MixupOperator": MixupOperator, "CutmixOperator": CutmixOperator}
BATCH_OPS: dict[str, type] = {**_MIXERS, "OpSampler": OpSampler}


def _near(name: str, valid: list[str]) -> str:
    m = difflib.get_close_matches(name, valid, n=1)
    return f"did you mean '{m[0]}'?" if m else f"valid: {', '.join(valid)}"


def _build(name: str, args: dict[str, Any], where: str):
    import inspect

    if name != "OpSampler":
        allowed = [p for p in inspect.signature(BATCH_OPS[name].__init__).parameters if p != "self"]
        for key in args:
            if key not in allowed:
                raise ConfigError(f"{where}.{key}: unknown argument", hint=_near(key, allowed))
    return BATCH_OPS[name](**args)


def build_batch_transform(ops: Any, where: str):
    """The ops of a ``batch_transform_ops`` list applied in order: ``f(x, targets, rng) -> (x, targets)``."""
    if not isinstance(ops, list) or not ops:
        raise ConfigError(f"{where}: expected a list like '- MixupOperator: {{alpha: 0.2}}'")
    steps = []
    for i, entry in enumerate(ops):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"{where}.{i}: each op is a one-key mapping, e.g. '- CutmixOperator: {{alpha: 0.2}}'")
        (name, args), = entry.items()
        if name not in BATCH_OPS:
            raise ConfigError(f"{where}.{i}: unknown batch op '{name}'", hint=_near(str(name), list(BATCH_OPS)))
        if args is not None and not isinstance(args, dict):
            raise ConfigError(f"{where}.{i}.{name}: expected a mapping of arguments, got {args!r}")
        steps.append(_build(name, dict(args or {}), f"{where}.{i}.{name}"))

    def apply(x, t, rng):
        for step in steps:
            x, t = step(x, t, rng)
        return x, t

    return apply
