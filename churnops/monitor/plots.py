"""The plot data of a drift report: per feature, the training and recent share of each bin.

The ``monitor`` stage writes one ``metrics/drift_plots/<feature>.json`` per feature, and
DVC draws them as bar plots (``dvc.yaml``'s ``plots:``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.schema import FEATURES, CategoricalFeature
from churnops.monitor.rules import fixed, numeric_bins

if TYPE_CHECKING:
    from churnops.core.trainstats import TrainStats


def plot_rows(
    cols: Mapping[str, np.ndarray], stats: TrainStats, report: Mapping[str, Any] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per feature, the training and recent share of each bin, for DVC's bar plots.

    Training rows first, bins in their natural order (the template keeps data order).
    ``series`` ``"recent, flagged"`` draws a flagged feature's recent bars in red, so the plot
    says which features are alarms and which are noise.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    results = (report or {}).get("features") or {}
    for f in FEATURES:
        x = cols.get(f.name, np.zeros(0, dtype=np.int64))
        n = int(x.size)
        if isinstance(f, CategoricalFeature):
            labels = list(f.categories)
            train = np.array([stats.categorical[f.name].counts[c] for c in labels], dtype=np.float64)
            recent = np.bincount(x.astype(np.int64), minlength=len(labels)) if n else np.zeros(len(labels))
        else:
            bins = numeric_bins(stats.numeric[f.name].psi_bins)
            labels = bins.labels(integer=f.integer)
            train = bins.train_counts.astype(np.float64)
            recent = np.bincount(bins.assign(x), minlength=len(labels)) if n else np.zeros(len(labels))
        r = results.get(f.name) or {}
        if r.get("drifted"):
            series, verdict = "recent, flagged", f"drift ({', '.join(r['rules'])})"
        else:
            series, verdict = "recent", "no drift" if r.get("checked", bool(r)) else "not checked"
        rows = [
            {"bin": b, "share": fixed(c / train.sum(), 4), "source": "train", "series": "train", "verdict": verdict}
            for b, c in zip(labels, train, strict=True)
        ]
        rows += [
            {"bin": b, "share": fixed(c / n if n else 0.0, 4), "source": "recent", "series": series, "verdict": verdict}
            for b, c in zip(labels, recent, strict=True)
        ]
        out[f.name] = rows
    return out
