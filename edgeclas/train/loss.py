"""Losses named in a recipe's ``Loss`` list; only cross-entropy with label smoothing is needed so far."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["build_loss"]


def build_loss(spec: list[dict[str, Any]], class_num: int) -> Callable:
    """Weighted sum of the listed losses: ``loss(logits, labels) -> scalar tensor``."""
    import paddle
    import paddle.nn.functional as F

    terms = []
    for entry in spec:
        (_name, args), = entry.items()  # validated: CELoss is the only loss of one network
        args = args or {}
        terms.append((float(args.get("weight", 1.0)), float(args.get("epsilon", 0.0) or 0.0)))

    def loss(logits, labels):
        total = 0.0
        for weight, eps in terms:
            if eps > 0:
                # Label smoothing: (1 - eps) on the true class, eps spread over all classes.
                soft = F.one_hot(labels, class_num) * (1.0 - eps) + eps / class_num
                ce = F.cross_entropy(logits, soft, soft_label=True)
            else:
                ce = F.cross_entropy(logits, labels)
            total = total + weight * paddle.mean(ce)
        return total

    return loss
