"""The numpy figures are scikit-learn's, to the bit: counts, F1, ROC and precision-recall curves."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from churnops.pipeline.classification import Counts, Curve


def _cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 5_000)
    smooth = np.clip(0.3 * y + rng.normal(0.35, 0.2, y.size), 0.0, 1.0)
    return [
        ("distinct scores", y, smooth),
        ("many ties", y, np.round(smooth, 2)),  # few distinct thresholds: ties must be one point
        ("two rows", np.array([0, 1]), np.array([0.4, 0.6])),
        ("all tied", y[:50], np.full(50, 0.5)),
        ("rare positives", (rng.random(3_000) < 0.01).astype(int), rng.random(3_000)),
    ]


@pytest.mark.parametrize(("y", "score"), [c[1:] for c in _cases()], ids=[c[0] for c in _cases()])
def test_curves_and_auc_equal_scikit_learn_bit_for_bit(y: np.ndarray, score: np.ndarray) -> None:
    curve = Curve.of(y, score)
    for ours, theirs in zip(curve.roc(), roc_curve(y, score), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(curve.precision_recall(), precision_recall_curve(y, score), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert curve.roc_auc() == roc_auc_score(y, score)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9, 2.0], ids=lambda t: f"threshold={t}")
def test_counts_and_scores_equal_scikit_learn_bit_for_bit(threshold: float) -> None:
    y, score = _cases()[0][1:]
    pred = score >= threshold  # 0.0: all positive; 2.0: none, where precision and F1 divide by zero
    counts = Counts.of(y, pred)
    assert [counts.tn, counts.fp, counts.fn, counts.tp] == confusion_matrix(y, pred, labels=[0, 1]).ravel().tolist()
    assert counts.f1 == f1_score(y, pred, zero_division=0)
    assert counts.precision == precision_score(y, pred, zero_division=0)
    assert counts.recall == recall_score(y, pred, zero_division=0)
    assert counts.accuracy == accuracy_score(y, pred)
    assert counts.n == y.size
