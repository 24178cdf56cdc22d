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


# Three images, three labels. Decisions at > 0.5: [1,0,1], [0,1,1], [0,0,0]; truth [1,0,0], [0,1,1], [1,0,0].
ML_SCORES = np.array([[0.9, 0.2, 0.6], [0.3, 0.8, 0.7], [0.4, 0.1, 0.5]])
ML_LABELS = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0]])


def test_multilabel_metrics_hand_computed():
    out = compute_metrics(ML_SCORES, ML_LABELS, [{"HammingDistance": None}, {"AccuracyScore": None},
                                                 {"AccuracyScore": {"base": "sample"}}, {"mAP": {}}])
    # wrong decisions: image 0 label 2, image 2 label 0 → 2 of 9
    assert out["HammingDistance"] == pytest.approx(2 / 9)
    # AccuracyScore appears twice; the later (per image: only image 1 is all right) wins the key
    assert out["AccuracyScore"] == pytest.approx(1 / 3)
    assert compute_metrics(ML_SCORES, ML_LABELS, [{"AccuracyScore": {}}])["AccuracyScore"] == pytest.approx(7 / 9)
    # AP per label: label 0 scores 0.9(+) 0.4(+) 0.3(-) → (1 + 2/2)/2 = 1; label 1: 0.8(+) first → 1;
    # label 2: 0.7(+) 0.6(-) 0.5(-) → 1. So mAP 1 although decisions are wrong: it ranks, it does not threshold.
    assert out["mAP"] == pytest.approx(1.0)
    worse = ML_SCORES.copy()
    worse[0, 0] = 0.35  # label 0 ranking: 0.4(+) 0.35(+) 0.3(-) still 1; swap with the negative instead:
    worse[1, 0] = 0.95  # 0.95(-) 0.4(+) 0.35(+): precisions 1/2 and 2/3 → AP 7/12
    assert compute_metrics(worse, ML_LABELS, [{"mAP": {}}])["mAP"] == pytest.approx((7 / 12 + 1 + 1) / 3)


def test_average_precision_ties_enter_together():
    from edgeclas.train.metrics import average_precision

    # one positive tied with one negative at the top: precision 1/2 at recall 1
    assert average_precision(np.array([0.5, 0.5, 0.1]), np.array([1, 0, 0], bool)) == pytest.approx(0.5)
    assert np.isnan(average_precision(np.array([0.5, 0.1]), np.array([0, 0], bool)))


def test_soft_and_multilabel_losses_match_their_formulas():
    pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
    import paddle

    from edgeclas.train.loss import build_loss

    logits = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]], np.float32)
    soft = np.array([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]], np.float32)
    log_sm = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    ce = build_loss([{"CELoss": {"weight": 1.0}}], 3)(paddle.to_tensor(logits), paddle.to_tensor(soft))
    assert float(ce) == pytest.approx(float(-(soft * log_sm).sum(axis=1).mean()), rel=1e-5)
    # label smoothing on soft rows: (1 - eps) t + eps / C
    smooth = soft * 0.9 + 0.1 / 3
    ce = build_loss([{"CELoss": {"epsilon": 0.1}}], 3)(paddle.to_tensor(logits), paddle.to_tensor(soft))
    assert float(ce) == pytest.approx(float(-(smooth * log_sm).sum(axis=1).mean()), rel=1e-5)
    # class ids give the same as one-hot rows
    ids = build_loss([{"CELoss": {}}], 3)(paddle.to_tensor(logits), paddle.to_tensor(np.array([0, 2])))
    assert float(ids) == pytest.approx(float(-(log_sm[0, 0] + log_sm[1, 2]) / 2), rel=1e-5)

    targets = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    sig = 1 / (1 + np.exp(-logits))
    bce = -(targets * np.log(sig) + (1 - targets) * np.log(1 - sig))
    ml = build_loss([{"MultiLabelLoss": {"weight": 2.0}}], 3)(paddle.to_tensor(logits), paddle.to_tensor(targets))
    assert float(ml) == pytest.approx(2.0 * float(bce.mean()), rel=1e-5)
    ml = build_loss([{"MultiLabelLoss": {"size_sum": True}}], 3)(paddle.to_tensor(logits), paddle.to_tensor(targets))
    assert float(ml) == pytest.approx(float(bce.sum(axis=1).mean()), rel=1e-5)
