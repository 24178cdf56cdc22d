"""Metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from edgeclas.train.metrics import compute_metrics, topk_accuracy, tpr_at_fpr

# Positives score 0.9 0.8 0.6 0.3, negatives 0.7 0.4 0.2 0.1 (positive = score > threshold).
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
POSITIVE = np.array([1, 1, 0, 1, 0, 1, 0, 0], dtype=bool)


@pytest.mark.parametrize("max_fpr, tpr, fpr, threshold", [
    (0.0, 0.5, 0.0, 0.7),     # above 0.7: only 0.9 and 0.8, both positive
    (0.25, 0.75, 0.25, 0.4),  # above 0.4: 0.9 0.8 0.6 (+) and 0.7 (-)
    (0.5, 1.0, 0.5, 0.2),     # above 0.2: all four positives, negatives 0.7 and 0.4
    (1.0, 1.0, 0.5, 0.2),     # full TPR is reached at FPR 0.5: the lower FPR wins
])
def test_tpr_at_fpr_hand_computed(max_fpr, tpr, fpr, threshold):
    r = tpr_at_fpr(SCORES, POSITIVE, max_fpr)
    assert (r.tpr, r.fpr) == (tpr, fpr)
    assert r.threshold == pytest.approx(threshold)


def test_topk_accuracy_hand_computed():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    labels = np.array([1, 1, 0, 2])
    assert topk_accuracy(probs, labels, 1) == 0.25
    assert topk_accuracy(probs, labels, 2) == 0.75
    assert topk_accuracy(probs, labels, 5) == 1.0  # k beyond the class count means all


def test_compute_metrics_names_and_binary_only_tpr():
    probs = np.stack([1 - SCORES, SCORES], axis=1)
    out = compute_metrics(probs, POSITIVE.astype(int), [{"TopkAcc": {"topk": [1]}}, {"TprAtFpr": {"max_fpr": 0.25}}])
    assert out["top1"] == 0.75  # 0.5 threshold: 0.9 0.8 0.6 right, 0.7 wrong, 0.4 0.2 0.1 right, 0.3 wrong
    assert out["tpr@fpr=0.25"] == 0.75 and out["threshold@fpr=0.25"] == pytest.approx(0.4)
    three = compute_metrics(np.eye(3), np.arange(3), [{"TprAtFpr": {}}])
    assert three == {}  # TprAtFpr is defined for binary tasks only
