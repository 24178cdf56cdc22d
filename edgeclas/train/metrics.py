"""Evaluation metrics on arrays of class probabilities (pure numpy, tested on hand-computed cases)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["topk_accuracy", "TprAtFpr", "tpr_at_fpr", "compute_metrics"]


def topk_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the ``k`` highest scores (``k`` capped at the class count)."""
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1))) if len(labels) else 0.0


@dataclass(frozen=True)
class TprAtFpr:
    tpr: float
    fpr: float
    threshold: float  # predict positive when score > threshold


def tpr_at_fpr(scores: np.ndarray, positive: np.ndarray, max_fpr: float) -> TprAtFpr:
    """Highest true-positive rate whose false-positive rate is ≤ ``max_fpr`` (PULC's TprAtFpr).

    A sample is called positive when its score is strictly above the threshold. Candidate
    thresholds are the observed scores (and one just below the lowest), so the result is exact
    rather than sampled on PaddleClas's 1e-4 grid. Among equal TPRs the lowest FPR wins.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not len(scores):
        return TprAtFpr(0.0, 0.0, 1.0)
    best = TprAtFpr(0.0, 0.0, float(scores.max()))
    for thr in np.unique(np.append(scores, np.nextafter(scores.min(), -np.inf))):
        pred = scores > thr
        fpr = float((pred & ~positive).sum() / n_neg) if n_neg else 0.0
        tpr = float((pred & positive).sum() / n_pos) if n_pos else 0.0
        if fpr <= max_fpr and (tpr > best.tpr or (tpr == best.tpr and fpr < best.fpr)):
            best = TprAtFpr(tpr, fpr, float(thr))
    return best


def compute_metrics(probs: np.ndarray, labels: np.ndarray, spec: list[dict[str, Any]]) -> dict[str, float]:
    """Metrics named in a recipe's ``Metric.Eval`` list → flat dict (``top1``, ``top5``, ``tpr@fpr=0.01``…)."""
    out: dict[str, float] = {}
    for entry in spec:
        (name, args), = entry.items()
        args = args or {}
        if name == "TopkAcc":
            for k in args.get("topk", [1, 5]):
                out[f"top{k}"] = topk_accuracy(probs, labels, int(k))
        elif name == "TprAtFpr" and probs.shape[1] == 2:  # defined for binary tasks (positive class 1)
            max_fpr = float(args.get("max_fpr", 0.001))
            r = tpr_at_fpr(probs[:, 1], labels == 1, max_fpr)
            out[f"tpr@fpr={max_fpr:g}"] = r.tpr
            out[f"fpr@fpr={max_fpr:g}"] = r.fpr
            out[f"threshold@fpr={max_fpr:g}"] = r.threshold
    return out
