"""Evaluation metrics and plot series."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from churnops.pipeline.evaluate import MAX_CURVE_POINTS, evaluate


def test_metrics_on_a_hand_checked_case() -> None:
    y = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.8, 0.2])
    metrics, plots = evaluate(y, p, threshold=0.5)
    # predicted 1 for 0.9, 0.6, 0.8 -> tp=2 (0.9, 0.8), fp=1 (0.6), fn=1 (0.4), tn=2
    assert all(isinstance(v, int | float) for v in metrics.values()), "headline scalars only"
    assert metrics["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert metrics["roc_auc"] == pytest.approx(8 / 9, abs=1e-6)
    assert metrics["n_test"] == 6
    assert sorted((r["actual"], r["predicted"], r["count"]) for r in plots["confusion"]) == [
        ("churn", "churn", 2),
        ("churn", "stay", 1),
        ("stay", "churn", 1),
        ("stay", "stay", 2),
    ]


def test_curves_are_thinned_and_span_the_whole_range() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50_000)
    p = np.clip(y * 0.3 + rng.random(50_000) * 0.7, 0, 1)
    _, plots = evaluate(y, p, 0.5)
    roc = plots["roc"]
    assert len(roc) <= MAX_CURVE_POINTS and len(plots["prc"]) <= MAX_CURVE_POINTS
    assert (roc[0]["fpr"], roc[0]["tpr"]) == (0.0, 0.0)
    assert (roc[-1]["fpr"], roc[-1]["tpr"]) == (1.0, 1.0)
    assert all(a["fpr"] <= b["fpr"] for a, b in itertools.pairwise(roc))


def test_single_class_test_set_has_no_auc_and_no_crash() -> None:
    metrics, plots = evaluate(np.zeros(5, dtype=int), np.linspace(0, 1, 5), 0.5)
    assert metrics["roc_auc"] is None
    fp = next(r["count"] for r in plots["confusion"] if (r["actual"], r["predicted"]) == ("stay", "churn"))
    assert plots["roc"] == [] and fp == 3  # 0.5, 0.75 and 1.0 reach the threshold
