"""Data quality of a window: what share of the newest lines is invalid, and why.

Invalid lines are part of the window, so a wave of bad traffic shows here, per line reason,
per feature and reason, and per unseen category value. More than
``monitor.max_invalid_fraction`` of the window invalid is drift, with the commonest causes named.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from churnops.core.schema import FEATURES, CategoricalFeature

MAX_UNSEEN_VALUES = 20
"""Unseen category values named per feature (the commonest); the rest are summed as ``...``."""


def _value_key(v: Any) -> str:
    return v if isinstance(v, str) else repr(v)


def summarize(entries: Sequence[Any], blank_lines: int = 0) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(cols, counts)``: each feature's own valid values (categories as codes) and the valid
    probabilities, for the drift rules; the raw counts for :func:`quality_report`."""
    values: list[list[Any]] = [[] for _ in FEATURES]
    proba: list[float] = []
    reasons: Counter[str] = Counter()
    per_feature: dict[str, Counter[str]] = {f.name: Counter() for f in FEATURES}
    unseen: dict[str, Counter[str]] = {}
    rejected: Counter[str] = Counter()
    no_probability = 0
    for e in entries:
        if e.reason is not None:
            reasons[e.reason] += 1
        if e.values is not None:
            for i, v in enumerate(e.values):
                if v is not None:
                    values[i].append(v)
            if e.probability is None:
                no_probability += 1
            else:
                proba.append(e.probability)
        seen: set[tuple[str, str]] = set()
        for feature, why, value in e.problems:
            if (feature, why) not in seen:  # a line counts once per feature and reason
                seen.add((feature, why))
                per_feature[feature][why] += 1
            if why == "unseen_category":
                unseen.setdefault(feature, Counter())[_value_key(value)] += 1
        rejected.update(e.rejected_reasons)
    cols: dict[str, np.ndarray] = {}
    for f, vals in zip(FEATURES, values, strict=True):
        if isinstance(f, CategoricalFeature):
            index = {c: k for k, c in enumerate(f.categories)}
            cols[f.name] = np.fromiter((index[v] for v in vals), dtype=np.int64, count=len(vals))
        else:
            cols[f.name] = np.asarray(vals, dtype=np.float64)
    cols["churn_probability"] = np.asarray(proba, dtype=np.float64)
    counts = {
        "lines": len(entries),
        "reasons": reasons,
        "features": per_feature,
        "unseen_categories": unseen,
        "rejected_reasons": rejected,
        "no_probability": no_probability,
        "blank_lines": blank_lines,
    }
    return cols, counts


def _share(count: int, lines: int) -> float:
    return round(count / lines, 4) if lines else 0.0


def _top(counter: Mapping[str, int], limit: int) -> dict[str, int]:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    out = dict(items[:limit])
    if len(items) > limit:
        out["..."] = sum(c for _, c in items[limit:])
    return out


def quality_report(counts: Mapping[str, Any], max_invalid_fraction: float) -> dict[str, Any]:
    """The data-quality section of the report, with its rule and, when it fires, the named cause.

    Shares are of the window's lines. ``cause`` reads e.g. ``invalid lines 30.0% of 200 >
    max_invalid_fraction 5% (schema 60; plan: unseen_category 60 ['enterprise' 60])``.
    """
    lines = int(counts["lines"])
    reasons: Mapping[str, int] = counts["reasons"]
    invalid = sum(reasons.values())
    fraction = _share(invalid, lines)
    features = {
        name: {why: {"lines": c, "share": _share(c, lines)} for why, c in sorted(per.items())}
        for name, per in counts["features"].items()
        if per
    }
    unseen = {name: _top(values, MAX_UNSEEN_VALUES) for name, values in sorted(counts["unseen_categories"].items())}
    report: dict[str, Any] = {
        "lines": lines,
        "invalid_lines": invalid,
        "invalid_fraction": fraction,
        "drifted": bool(lines and invalid / lines > max_invalid_fraction),
        "reasons": {
            why: {"lines": c, "share": _share(c, lines)} for why, c in sorted(reasons.items(), key=lambda kv: -kv[1])
        },
        "features": features,
        "unseen_categories": unseen,
        "rejected_reasons": _top(counts["rejected_reasons"], 20),
        "no_probability": int(counts["no_probability"]),
        "blank_lines_skipped": int(counts["blank_lines"]),
    }
    if report["drifted"]:
        report["cause"] = (
            f"invalid lines {invalid / lines:.1%} of {lines} > max_invalid_fraction {max_invalid_fraction:g} "
            f"({_explain(report)})"
        )
    return report


def _explain(report: Mapping[str, Any], limit: int = 3) -> str:
    """The commonest line reasons, feature problems and unseen values, briefly."""
    parts = [f"{why} {v['lines']}" for why, v in list(report["reasons"].items())[:limit]]
    problems = sorted(
        ((name, why, v["lines"]) for name, per in report["features"].items() for why, v in per.items()),
        key=lambda t: -t[2],
    )
    for name, why, c in problems[:limit]:
        text = f"{name}: {why} {c}"
        if why == "unseen_category" and name in report["unseen_categories"]:
            shown = ", ".join(f"{v!r} {n}" for v, n in itertools.islice(report["unseen_categories"][name].items(), 3))
            text += f" [{shown}]"
        parts.append(text)
    return "; ".join(parts)
