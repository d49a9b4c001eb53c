"""A window's drift report: the rules applied to every feature and the predictions, and its headline.

The status is ``drift`` when any rule (data quality included) flags, ``ok`` otherwise, and
``insufficient_data`` when the window holds fewer than ``min_samples`` lines or no feature has
``min_samples`` valid values (nothing is flagged then). The report is
``metrics/details/monitor.json``; its :func:`headline` is the DVC metric ``metrics/drift.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.schema import FEATURES, CategoricalFeature
from churnops.monitor.rules import Rules, categorical_drift, numeric_drift, prediction_drift

if TYPE_CHECKING:
    from churnops.core.trainstats import TrainStats


def unchecked(n: int) -> dict[str, Any]:
    """A feature (or the predictions) with fewer than ``min_samples`` valid values: not judged."""
    return {"drifted": False, "rules": [], "n": int(n), "checked": False}


def judged(n: int, rule: Callable[[], dict[str, Any]], rules: Rules) -> dict[str, Any]:
    """``rule()`` when ``n`` values are enough to judge, else :func:`unchecked`."""
    return rule() if n >= rules.min_samples else unchecked(n)


def unchecked_prediction(n: int) -> dict[str, Any]:
    """The predictions with fewer than ``min_samples`` valid probabilities: not judged."""
    return {"drifted": False, "n": int(n), "checked": False}


def feature_drift(cols: Mapping[str, np.ndarray], stats: TrainStats, rules: Rules) -> dict[str, dict[str, Any]]:
    """Per-feature results for every schema feature in ``cols``.

    A feature with fewer than ``min_samples`` valid values is not judged:
    ``{"drifted": False, "rules": [], "n": n, "checked": False}``.
    """
    out: dict[str, dict[str, Any]] = {}
    for f in FEATURES:
        if f.name not in cols:
            continue
        x = cols[f.name]
        if isinstance(f, CategoricalFeature):
            rule = lambda x=x, f=f: categorical_drift(x, f, stats.categorical[f.name], rules)  # noqa: E731
        else:
            rule = lambda x=x, f=f: numeric_drift(x, stats.numeric[f.name], rules)  # noqa: E731
        out[f.name] = judged(int(x.size), rule, rules)
    return out


def drift_report(
    cols: Mapping[str, np.ndarray],
    stats: TrainStats,
    rules: Rules,
    last_n: int,
    quality: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The full drift report (``metrics/details/monitor.json``): deterministic, no time, no absolute path.

    ``quality`` None means arrays that are all valid (the window is then the longest column);
    ``note`` says why there is no data, when there is none (e.g. the log is missing).
    """
    if quality is None:
        lines = max((int(c.size) for c in cols.values()), default=0)
        quality = {"lines": lines, "invalid_lines": 0, "invalid_fraction": 0.0, "drifted": False}
    if int(quality["lines"]) < rules.min_samples:
        return assemble(quality, {}, {}, rules, last_n, note)
    proba = cols.get("churn_probability", np.zeros(0))
    prediction = (
        prediction_drift(proba, stats.churn_rate, rules)
        if proba.size >= rules.min_samples
        else unchecked_prediction(proba.size)
    )
    return assemble(quality, feature_drift(cols, stats, rules), prediction, rules, last_n, note)


def assemble(
    quality: Mapping[str, Any],
    features: dict[str, dict[str, Any]],
    prediction: dict[str, Any],
    rules: Rules,
    last_n: int,
    note: str | None = None,
) -> dict[str, Any]:
    """The report from the window's data quality and its judged features and predictions.

    The one place that turns rule results into a status and a message, whether the values came
    as arrays (:func:`drift_report`) or as a stream's per-chunk counts.
    """
    lines = int(quality["lines"])
    report: dict[str, Any] = {
        "status": "insufficient_data",
        "message": "",
        "flagged": [],
        "lines": lines,
        "last_n": last_n,
        "invalid_fraction": quality["invalid_fraction"],
        "thresholds": {
            "z_threshold": rules.z_threshold,
            "chi2_alpha": rules.chi2_alpha,
            "min_samples": rules.min_samples,
            "max_invalid_fraction": rules.max_invalid_fraction,
        },
        "quality": dict(quality),
        "features": {},
        "prediction": {},
    }
    if lines < rules.min_samples:
        why = note or f"{lines} line(s) in the window"
        report["message"] = f"{why}; at least monitor.min_samples={rules.min_samples} are needed to judge drift"
        return report
    report["features"] = features
    report["prediction"] = prediction
    causes: list[str] = []
    flagged: list[str] = []
    if quality.get("drifted"):
        flagged.append("invalid_lines")
        causes.append(str(quality["cause"]))
    for name, r in features.items():
        if r["drifted"]:
            flagged.append(name)
            causes.append(f"{name} ({', '.join(r['rules'])})")
    if report["prediction"]["drifted"]:
        flagged.append("prediction")
        causes.append("prediction")
    unchecked = [name for name, r in features.items() if r.get("checked") is False]
    if not report["prediction"].get("checked", True):
        unchecked.append("prediction")
    report["flagged"] = flagged
    if flagged:
        report["status"] = "drift"
        report["message"] = "drift in " + "; ".join(causes)
    elif len(unchecked) == len(features) and features:
        report["message"] = f"no feature has monitor.min_samples={rules.min_samples} valid values in {lines} lines"
    else:
        report["status"] = "ok"
        checked = len(features) - len([u for u in unchecked if u != "prediction"])
        report["message"] = f"no drift in {checked} features" + (
            " and the predictions" if "prediction" not in unchecked else ""
        )
    if unchecked and report["status"] != "insufficient_data":
        report["message"] += f" (not checked, fewer than {rules.min_samples} valid values: {', '.join(unchecked)})"
    return report


def headline(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few scalars of ``metrics/drift.json``, the DVC metric (``dvc exp show`` columns).

    ``flagged`` names what fired, space-separated (``"-"`` when nothing did).
    """
    return {
        "status": report["status"],
        "flagged": " ".join(report["flagged"]) or "-",
        "invalid_fraction": report["invalid_fraction"],
    }
