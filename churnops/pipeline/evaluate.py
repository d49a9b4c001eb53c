"""Test-set metrics and plot data for DVC.

Evaluation scores the exported model with :class:`churnops.pipeline.scorer.Scorer`, i.e. with
exactly the code and bytes that the service will serve, not with the in-memory
scikit-learn object.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_CURVE_POINTS = 200
"""Curves are thinned to at most this many points: plot files stay small at 5M rows."""


def _thin(n: int) -> np.ndarray:
    if n <= MAX_CURVE_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))


def _r(x: float) -> float:
    return round(float(x), 6)


def evaluate(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Compute test-set metrics and plot series.

    Returns:
        ``(metrics, plots)``: ``metrics`` holds headline scalars only (the DVC metric
        ``metrics/evaluate.json``); ``plots`` maps a plot name (``roc``, ``prc``,
        ``confusion``) to its list of records. The confusion counts live only in
        ``plots["confusion"]``: breakdowns are not DVC metrics (see the README's metrics rule).
    """
    from churnops.pipeline.classification import Counts, Curve

    y_true = np.asarray(y_true)
    counts = Counts.of(y_true, proba >= threshold)
    both = len(np.unique(y_true)) == 2
    curve = Curve.of(y_true, proba) if both else None
    metrics = {
        "f1": _r(counts.f1),
        "precision": _r(counts.precision),
        "recall": _r(counts.recall),
        "accuracy": _r(counts.accuracy),
        "roc_auc": _r(curve.roc_auc()) if curve else None,
        "threshold": threshold,
        "n_test": len(y_true),
    }
    plots: dict[str, list[Any]] = {"roc": [], "prc": []}
    if curve:
        fpr, tpr, roc_thr = curve.roc()
        plots["roc"] = [
            {"fpr": _r(fpr[i]), "tpr": _r(tpr[i]), "threshold": _r(min(roc_thr[i], 1.0))} for i in _thin(len(fpr))
        ]
        prec, rec, pr_thr = curve.precision_recall()
        plots["prc"] = [
            {"recall": _r(rec[i]), "precision": _r(prec[i]), "threshold": _r(pr_thr[min(i, len(pr_thr) - 1)])}
            for i in _thin(len(pr_thr))
        ]
    names = {0: "stay", 1: "churn"}
    plots["confusion"] = [
        {"actual": names[a], "predicted": names[p], "count": int(c)}
        for (a, p), c in (((0, 0), counts.tn), ((0, 1), counts.fp), ((1, 0), counts.fn), ((1, 1), counts.tp))
    ]
    return metrics, plots
