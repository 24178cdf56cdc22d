"""Losses named in a recipe's ``Loss`` list, one class per PaddleClas name (:data:`LOSSES`).

A loss is built with the class count and its recipe arguments and called as ``loss(logits, target)``.
``target`` is what the batches carry: class ids (``int64 [N]``), or soft/multi-hot rows
(``float32 [N, C]``: mixed by Mixup/CutMix, or multi-label 0/1 vectors). A new loss is one class
here plus its row; the recipe check reads the arguments from the constructor.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["CELoss", "MultiLabelLoss", "LOSSES", "build_loss"]


def _smooth(target, class_num: int, eps: float):
    """PaddleClas's label smoothing: ``(1 - eps)·t + eps / C`` on one-hot (or already soft) rows."""
    import paddle.nn.functional as F

    if target.ndim == 1:
        target = F.one_hot(target, class_num)
    return target * (1.0 - eps) + eps / class_num if eps > 0 else target


class CELoss:
    """Softmax cross-entropy; ``epsilon`` > 0 smooths the labels. Soft targets (Mixup/CutMix) are used
    as given (PaddleClas would pass them through another softmax when ``epsilon`` is unset)."""

    def __init__(self, class_num: int, weight: float = 1.0, epsilon: float = 0.0) -> None:
        self.class_num, self.weight, self.eps = class_num, float(weight), float(epsilon or 0.0)

    def __call__(self, logits, target):
        import paddle
        import paddle.nn.functional as F

        if target.ndim == 1 and self.eps == 0:
            return paddle.mean(F.cross_entropy(logits, target))
        soft = _smooth(target.astype("float32") if target.ndim > 1 else target, self.class_num, self.eps)
        return paddle.mean(F.cross_entropy(logits, soft, soft_label=True))


class MultiLabelLoss:
    """Binary cross-entropy with logits per label (sigmoid head); ``epsilon`` smooths the 0/1 targets;
    ``size_sum`` sums over labels before averaging over images (PaddleClas's option)."""

    def __init__(self, class_num: int, weight: float = 1.0, epsilon: float = 0.0, size_sum: bool = False,
                 weight_ratio: bool = False) -> None:
        # weight_ratio is refused by the recipe check (it needs per-label ratios from the dataset)
        self.class_num, self.weight, self.eps, self.size_sum = class_num, float(weight), float(epsilon or 0.0), size_sum

    def __call__(self, logits, target):
        import paddle
        import paddle.nn.functional as F

        target = _smooth(target.astype("float32"), self.class_num, self.eps)
        cost = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return paddle.mean(paddle.sum(cost, axis=1)) if self.size_sum else paddle.mean(cost)


LOSSES: dict[str, type] = {"CELoss": CELoss, "MultiLabelLoss": MultiLabelLoss}


def build_loss(spec: list[dict[str, Any]], class_num: int) -> Callable:
    """Weighted sum of the listed losses: ``loss(logits, target) -> scalar tensor``."""
    terms = []
    for entry in spec:
        (name, args), = entry.items()  # names and arguments were validated with the recipe
        terms.append(LOSSES[name](class_num, **(args or {})))

    def loss(logits, target):
        total = 0.0
        for term in terms:
            total = total + term.weight * term(logits, target)
        return total

    return loss
