"""Evaluation metrics on arrays of scores (pure numpy, tested on hand-computed cases).

One class per PaddleClas metric name (:data:`METRICS`), built from its recipe arguments and called as
``metric(scores, labels) -> {key: value}``. ``scores`` are probabilities (softmax rows for single-label,
per-label sigmoids for multi-label); ``labels`` are class ids, or 0/1 rows for multi-label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["topk_accuracy", "TprAtFpr", "tpr_at_fpr", "average_precision", "compute_metrics", "METRICS",
           "LOWER_IS_BETTER", "TopkAcc", "HammingDistance", "AccuracyScore", "mAP"]


def topk_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the ``k`` highest scores (``k`` capped at the class count)."""
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1))) if len(labels) else 0.0


@dataclass(frozen=True)
class TprAtFprResult:
    tpr: float
    fpr: float
    threshold: float  # predict positive when score > threshold


def tpr_at_fpr(scores: np.ndarray, positive: np.ndarray, max_fpr: float) -> TprAtFprResult:
    """Highest true-positive rate whose false-positive rate is ≤ ``max_fpr`` (PULC's TprAtFpr).

    A sample is called positive when its score is strictly above the threshold. Candidate
    thresholds are the observed scores (and one just below the lowest), so the result is exact
    rather than sampled on PaddleClas's 1e-4 grid. Among equal TPRs the lowest FPR wins.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not len(scores):
        return TprAtFprResult(0.0, 0.0, 1.0)
    best = TprAtFprResult(0.0, 0.0, float(scores.max()))
    for thr in np.unique(np.append(scores, np.nextafter(scores.min(), -np.inf))):
        pred = scores > thr
        fpr = float((pred & ~positive).sum() / n_neg) if n_neg else 0.0
        tpr = float((pred & positive).sum() / n_pos) if n_pos else 0.0
        if fpr <= max_fpr and (tpr > best.tpr or (tpr == best.tpr and fpr < best.fpr)):
            best = TprAtFprResult(tpr, fpr, float(thr))
    return best


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the precision-recall steps, ``Σ (R_i − R_{i−1}) · P_i`` over the distinct score thresholds
    from high to low (tied scores enter together); NaN when there is no positive."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    n_pos = int(positive.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(p)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


class TopkAcc:
    def __init__(self, topk: list[int] | int = (1, 5)) -> None:
        self.topk = [topk] if isinstance(topk, int) else list(topk)

    def __call__(self, scores, labels):
        return {f"top{k}": topk_accuracy(scores, labels, int(k)) for k in self.topk}


class TprAtFpr:
    """TPR at the recipe's FPR, and the threshold reaching it (binary tasks, positive class 1)."""

    def __init__(self, max_fpr: float = 0.001) -> None:
        self.max_fpr = float(max_fpr)

    def __call__(self, scores, labels):
        if scores.shape[1] != 2:
            return {}
        r = tpr_at_fpr(scores[:, 1], labels == 1, self.max_fpr)
        k = f"{self.max_fpr:g}"
        return {f"tpr@fpr={k}": r.tpr, f"fpr@fpr={k}": r.fpr, f"threshold@fpr={k}": r.threshold}


class HammingDistance:
    """Fraction of wrong label decisions (a label is on when its score is > 0.5); lower is better."""

    def __call__(self, scores, labels):
        return {"HammingDistance": float(np.mean((scores > 0.5) != (labels > 0.5))) if len(labels) else 0.0}


class AccuracyScore:
    """``base: label``: right decisions over all labels of all images (PaddleClas's default, 1 − Hamming);
    ``base: sample``: images whose every label is right."""

    def __init__(self, base: str = "label") -> None:
        from ..errors import ConfigError

        if base not in ("label", "sample"):
            raise ConfigError(f"AccuracyScore.base: '{base}' is not 'label' or 'sample'")
        self.base = base

    def __call__(self, scores, labels):
        right = (scores > 0.5) == (labels > 0.5)
        value = right.mean() if self.base == "label" else right.all(axis=1).mean()
        return {"AccuracyScore": float(value) if len(labels) else 0.0}


class mAP:  # noqa: N801 - PaddleClas's name
    """Mean over labels (those with at least one positive image) of the average precision of their scores."""

    def __call__(self, scores, labels):
        aps = [average_precision(scores[:, c], labels[:, c] > 0.5) for c in range(scores.shape[1])]
        aps = [a for a in aps if not np.isnan(a)]
        return {"mAP": float(np.mean(aps)) if aps else 0.0}


METRICS: dict[str, type] = {c.__name__: c for c in (TopkAcc, TprAtFpr, HammingDistance, AccuracyScore, mAP)}
MULTILABEL = ("HammingDistance", "AccuracyScore", "mAP")
LOWER_IS_BETTER = frozenset({"HammingDistance", "loss"})


def compute_metrics(probs: np.ndarray, labels: np.ndarray, spec: list[dict[str, Any]]) -> dict[str, float]:
    """Metrics named in a recipe's ``Metric`` list → flat dict (``top1``, ``tpr@fpr=0.01``, ``mAP``…), in order."""
    out: dict[str, float] = {}
    for entry in spec:
        (name, args), = entry.items()
        out.update(METRICS[name](**(args or {}))(probs, labels))
    return out
