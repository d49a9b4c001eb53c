"""Drift statistics: recent prediction-log records against the training statistics.

Every rule here is a pure function of arrays and the ``train_stats.json`` mapping, so the
tests can check the rules' error rates on thousands of generated samples in seconds.

Rules (``docs/monitoring.md`` explains them and their limits):

- numeric features, the z rule: ``z = (mean_recent - mean_train) / (std_train / sqrt(n))``
  flags ``|z| > z_threshold``; ``effect = (mean_recent - mean_train) / std_train``;
- every feature, PSI on training bins (the exact training-decile bins that ``prepare``
  records for numeric features, the categories for categorical ones) flags
  ``psi >= max(psi_threshold, psi_floor)``, where ``psi_floor`` is what sampling noise
  alone exceeds with probability ``chi2_alpha`` at this ``n``;
- categorical features, a chi-square goodness-of-fit test on the counts flags
  ``p_value < chi2_alpha``;
- predictions: the recent mean churn probability against the training churn rate, with
  the z rule and the binomial standard error ``sqrt(r (1 - r) / n)``.

The status is ``drift`` when any feature or the predictions are flagged, ``ok`` otherwise,
and ``insufficient_data`` below ``min_samples`` usable records (nothing is flagged then).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from churnops.errors import DataError
from churnops.schema import CATEGORICAL, FEATURE_NAMES, FEATURES, NUMERIC, CategoricalFeature

PSI_STABLE = 0.1
"""Below this PSI a distribution is read as stable (the usual reading; >= 0.2 is shifted)."""
PSEUDO_COUNT = 0.5
"""Added to every bin's count before PSI, so an empty bin gives a large but finite term."""
DECILES = tuple(round(0.1 * i, 1) for i in range(1, 10))


@dataclass(frozen=True, slots=True)
class Rules:
    """The thresholds of the drift rules (``monitor.*`` in params.yaml)."""

    z_threshold: float = 2.0
    psi_threshold: float = 0.2
    chi2_alpha: float = 0.01
    min_samples: int = 30


def _r(x: float | None, digits: int = 6) -> float | None:
    """Round for a stable, diffable metrics file; JSON has no inf/NaN, so those become null."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


# --------------------------------------------------------------------------- training stats


def _require(cond: bool, path: str, what: str) -> None:
    if not cond:
        raise DataError(f"{path}: not valid training statistics: {what}")


def validate_stats(stats: Any, source: str = "train_stats.json") -> dict:
    """Check that ``stats`` holds what the rules need for every schema feature.

    Raises:
        DataError: naming the file and the first missing or malformed entry.
    """
    _require(isinstance(stats, dict), source, "not a JSON object")
    rate = stats.get("churn_rate")
    _require(isinstance(rate, int | float) and 0 <= rate <= 1, source, "churn_rate missing or not in 0..1")
    for f in NUMERIC:
        s = (stats.get("numeric") or {}).get(f.name)
        _require(isinstance(s, dict), source, f"numeric.{f.name} missing")
        for key in ("mean", "std"):
            _require(isinstance(s.get(key), int | float) and math.isfinite(s[key]), source, f"numeric.{f.name}.{key}")
        _require(s["std"] >= 0, source, f"numeric.{f.name}.std is negative")
        h = s.get("histogram")
        ok = (
            isinstance(h, dict)
            and isinstance(h.get("edges"), list)
            and isinstance(h.get("counts"), list)
            and len(h["edges"]) == len(h["counts"]) + 1
            and len(h["counts"]) >= 1
            and all(isinstance(c, int) and c >= 0 for c in h["counts"])
            and sum(h["counts"]) > 0
            and all(isinstance(e, int | float) for e in h["edges"])
            and all(a <= b for a, b in zip(h["edges"], h["edges"][1:], strict=False))
        )
        _require(ok, source, f"numeric.{f.name}.histogram must hold sorted edges and one more edge than counts")
        b = s.get("psi_bins")
        ok = b is None or (
            isinstance(b, dict)
            and isinstance(b.get("cuts"), list)
            and isinstance(b.get("counts"), list)
            and len(b["counts"]) == len(b["cuts"]) + 1
            and all(isinstance(c, int | float) for c in b["cuts"])
            and all(x < y for x, y in itertools.pairwise(b["cuts"]))
            and all(isinstance(c, int) and c >= 0 for c in b["counts"])
            and sum(b["counts"]) > 0
        )
        _require(ok, source, f"numeric.{f.name}.psi_bins must hold increasing cuts and one more count than cuts")
    for f in CATEGORICAL:
        s = (stats.get("categorical") or {}).get(f.name)
        _require(isinstance(s, dict) and isinstance(s.get("counts"), dict), source, f"categorical.{f.name} missing")
        counts = s["counts"]
        for c in f.categories:
            _require(isinstance(counts.get(c), int) and counts[c] >= 0, source, f"categorical.{f.name}.counts.{c}")
        _require(sum(counts[c] for c in f.categories) > 0, source, f"categorical.{f.name}.counts are all zero")
    return stats


def load_stats(path: str | Path) -> dict:
    """Read and validate ``train_stats.json`` (the file prepare writes).

    Raises:
        DataError: missing, unreadable or incomplete file, naming the path.
    """
    from churnops.io import read_json

    return validate_stats(read_json(path, "training statistics"), str(path))


# --------------------------------------------------------------------------- bins


@dataclass(frozen=True, slots=True)
class Bins:
    """PSI bins of one numeric feature: interior cut points and the training counts per bin.

    Bin ``i`` holds ``cuts[i-1] <= x < cuts[i]``; the outer bins are open-ended, so recent
    values beyond the training range still land in a bin.
    """

    cuts: np.ndarray
    train_counts: np.ndarray

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Bin index of each value (np.histogram's convention: a value on a cut goes right)."""
        return np.searchsorted(self.cuts, x, side="right")

    def labels(self, integer: bool = False) -> list[str]:
        """Readable bin names; for integer features the whole numbers each bin holds."""
        if not self.cuts.size:
            return ["all"]
        if integer:
            lo = [math.ceil(v) for v in self.cuts]
            mid = [f"{a}" if b - 1 == a else f"{a}-{b - 1}" for a, b in itertools.pairwise(lo)]
            return [f"<= {lo[0] - 1}", *mid, f">= {lo[-1]}"]
        c = [f"{v:g}" for v in self.cuts]
        return [f"< {c[0]}", *(f"[{a}, {b})" for a, b in itertools.pairwise(c)), f">= {c[-1]}"]


def numeric_bins(feature_stats: Mapping[str, Any]) -> Bins:
    """Training-decile bins with exact training counts.

    ``prepare`` records them as ``psi_bins`` (exact deciles, counted on the training
    data). Statistics written before that have only the histogram: then each decile is
    snapped to the histogram edge at which the training CDF is closest to it, so that
    the training share of every bin is still an exact count. That matters for integer
    features: ``num_complaints`` has so many ties that its deciles repeat, and the share
    of a bin between two tied quantiles cannot be recovered from the quantiles alone.
    Bins without training mass are dropped.
    """
    exact = feature_stats.get("psi_bins")
    if exact is not None:
        return Bins(
            cuts=np.asarray(exact["cuts"], dtype=np.float64), train_counts=np.asarray(exact["counts"], dtype=np.int64)
        )
    h = feature_stats["histogram"]
    edges = np.asarray(h["edges"], dtype=np.float64)
    counts = np.asarray(h["counts"], dtype=np.int64)
    cdf = np.cumsum(counts)[:-1] / counts.sum()  # training CDF just below interior edge j+1
    interior = edges[1:-1]
    chosen: list[int] = []
    for p in DECILES:
        if interior.size == 0:
            break
        j = int(np.argmin(np.abs(cdf - p)))
        # A cut with no training mass on one side would make an empty training bin.
        if 0 < cdf[j] < 1 and (not chosen or cdf[j] > cdf[chosen[-1]]):
            chosen.append(j)
    cuts = interior[chosen]
    cum = np.concatenate([[0], np.cumsum(counts)])
    bounds = [0, *(j + 1 for j in chosen), len(counts)]
    train_counts = np.array([cum[b] - cum[a] for a, b in itertools.pairwise(bounds)], dtype=np.int64)
    return Bins(cuts=cuts, train_counts=train_counts)


# --------------------------------------------------------------------------- rules


def psi(recent_counts: np.ndarray, train_counts: np.ndarray) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over bins.

    Both sides get :data:`PSEUDO_COUNT` per bin, so empty bins give finite values.
    """
    a = (recent_counts + PSEUDO_COUNT) / (recent_counts.sum() + PSEUDO_COUNT * recent_counts.size)
    e = (train_counts + PSEUDO_COUNT) / (train_counts.sum() + PSEUDO_COUNT * train_counts.size)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_floor(n: int, bins: int, alpha: float) -> float:
    """The PSI that sampling noise alone exceeds with probability about ``alpha``.

    For a sample from the training distribution, ``n * PSI`` is approximately
    chi-square with ``bins - 1`` degrees of freedom (PSI is the symmetrised
    Kullback-Leibler divergence; for small differences it equals Pearson's X^2 / n).
    At n=200 and 6 bins this is 0.075, below the usual 0.2; at n=30 it is 0.50, where a
    fixed 0.2 threshold would flag many pure-noise samples.
    """
    from scipy.stats import chi2

    if bins < 2 or n < 1:
        return math.inf
    return float(chi2.isf(alpha, bins - 1) / n)


def psi_rule(recent_counts: np.ndarray, train_counts: np.ndarray, rules: Rules) -> tuple[float, float, bool]:
    """PSI over the bins, its noise floor at this sample size, and whether it flags drift.

    Flags when PSI reaches both ``psi_threshold`` and the floor (see :func:`psi_floor`).
    """
    value = psi(recent_counts, train_counts)
    floor = psi_floor(int(recent_counts.sum()), train_counts.size, rules.chi2_alpha)
    return value, floor, value >= max(rules.psi_threshold, floor)


def z_score(mean_recent: float, mean_train: float, std_train: float, n: int) -> float | None:
    """The lab's z rule statistic; None when the training std is 0 (z is undefined)."""
    if std_train <= 0:
        return None
    return (mean_recent - mean_train) / (std_train / math.sqrt(n))


def numeric_drift(x: np.ndarray, feature_stats: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """The z rule, effect size and PSI of one numeric feature."""
    n = x.size
    mean_r = float(x.mean())
    mean_t = float(feature_stats["mean"])
    std_t = float(feature_stats["std"])
    z = z_score(mean_r, mean_t, std_t, n)
    effect = (mean_r - mean_t) / std_t if std_t > 0 else None
    bins = numeric_bins(feature_stats)
    counts = np.bincount(bins.assign(x), minlength=bins.train_counts.size)
    value, floor, by_psi = psi_rule(counts, bins.train_counts, rules)
    by_z = abs(z) > rules.z_threshold if z is not None else mean_r != mean_t
    return {
        "drifted": bool(by_z or by_psi),
        "rules": [r for r, hit in (("z", by_z), ("psi", by_psi)) if hit],
        "z": _r(z, 4),
        "effect": _r(effect, 4),
        "mean_recent": _r(mean_r, 4),
        "mean_train": _r(mean_t, 4),
        "psi": _r(value, 4),
        "psi_floor": _r(floor, 4),
    }


def categorical_drift(
    codes: np.ndarray, feature: CategoricalFeature, feature_stats: Mapping[str, Any], rules: Rules
) -> dict[str, Any]:
    """Chi-square goodness of fit and PSI of one categorical feature (``codes`` index its categories)."""
    from scipy.stats import chisquare

    k = len(feature.categories)
    n = codes.size
    observed = np.bincount(codes, minlength=k).astype(np.int64)
    train = np.array([feature_stats["counts"][c] for c in feature.categories], dtype=np.int64)
    present = train > 0
    if np.any(observed[~present] > 0):
        # A category training never saw: the test's statistic is infinite, the drift certain.
        stat, p_value = None, 0.0
    elif present.sum() < 2:
        stat, p_value = 0.0, 1.0
    else:
        expected = train[present] / train[present].sum() * n
        res = chisquare(observed[present], expected)
        stat, p_value = float(res.statistic), float(res.pvalue)
    value, floor, by_psi = psi_rule(observed, train, rules)
    by_chi2 = p_value < rules.chi2_alpha
    return {
        "drifted": bool(by_chi2 or by_psi),
        "rules": [r for r, hit in (("chi2", by_chi2), ("psi", by_psi)) if hit],
        "chi2": _r(stat, 4),
        "p_value": _r(p_value, 6),
        "psi": _r(value, 4),
        "psi_floor": _r(floor, 4),
        "shares": {c: _r(observed[i] / n, 4) for i, c in enumerate(feature.categories)},
    }


def prediction_drift(proba: np.ndarray, churn_rate: float, rules: Rules) -> dict[str, Any]:
    """Recent mean churn probability against the training churn rate.

    The standard error is binomial, ``sqrt(r (1 - r) / n)``: with no drift and a
    calibrated model each probability has mean ``r`` and variance at most ``r (1 - r)``
    (the label's variance is that of the probability plus the coin flip), so the rule
    is conservative: its false-alarm rate is at most the z rule's nominal rate.
    """
    n = proba.size
    mean = float(proba.mean())
    se = math.sqrt(churn_rate * (1 - churn_rate) / n)
    z = (mean - churn_rate) / se if se > 0 else None
    drifted = abs(z) > rules.z_threshold if z is not None else mean != churn_rate
    return {
        "drifted": bool(drifted),
        "mean_probability": _r(mean, 4),
        "train_churn_rate": _r(churn_rate, 4),
        "difference": _r(mean - churn_rate, 4),
        "z": _r(z, 4),
    }


# --------------------------------------------------------------------------- columns and report


def columns(records: Sequence[Sequence[Any]]) -> dict[str, np.ndarray]:
    """Turn parsed records (feature values in schema order, then the probability) into arrays.

    Numeric features become float64; categorical ones int codes into the schema's
    categories; the probability is under ``"churn_probability"``.
    """
    n = len(records)
    cols: dict[str, np.ndarray] = {}
    for i, f in enumerate(FEATURES):
        if isinstance(f, CategoricalFeature):
            index = {c: k for k, c in enumerate(f.categories)}
            cols[f.name] = np.fromiter((index[r[i]] for r in records), dtype=np.int64, count=n)
        else:
            cols[f.name] = np.fromiter((r[i] for r in records), dtype=np.float64, count=n)
    cols["churn_probability"] = np.fromiter((r[-1] for r in records), dtype=np.float64, count=n)
    return cols


def feature_drift(cols: Mapping[str, np.ndarray], stats: Mapping[str, Any], rules: Rules) -> dict[str, dict]:
    """Per-feature results for every schema feature present in ``cols``."""
    out: dict[str, dict] = {}
    for f in FEATURES:
        if f.name not in cols:
            continue
        if isinstance(f, CategoricalFeature):
            out[f.name] = categorical_drift(cols[f.name], f, stats["categorical"][f.name], rules)
        else:
            out[f.name] = numeric_drift(cols[f.name], stats["numeric"][f.name], rules)
    return out


def drift_report(
    cols: Mapping[str, np.ndarray],
    stats: Mapping[str, Any],
    rules: Rules,
    last_n: int,
    skipped: Mapping[str, int] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The content of ``metrics/drift.json``: deterministic (no time, no absolute path).

    Args:
        cols: recent records as arrays (see :func:`columns`).
        stats: validated training statistics.
        rules: thresholds.
        last_n: how many records were asked for.
        skipped: skipped-line counts per reason.
        note: why there is no data, when there is none (e.g. the log is missing).
    """
    n = int(cols["churn_probability"].size) if "churn_probability" in cols else 0
    skipped = dict(sorted((k, int(v)) for k, v in (skipped or {}).items() if v))
    report: dict[str, Any] = {
        "n": n,
        "last_n": last_n,
        "z_threshold": rules.z_threshold,
        "psi_threshold": rules.psi_threshold,
        "chi2_alpha": rules.chi2_alpha,
        "min_samples": rules.min_samples,
        "skipped_lines": sum(skipped.values()),
        "skipped_reasons": skipped,
        "features": {},
        "prediction": {},
    }
    if n < rules.min_samples:
        report["status"] = "insufficient_data"
        why = note or f"{n} usable record(s) in the log"
        report["message"] = f"{why}; at least monitor.min_samples={rules.min_samples} are needed to judge drift"
        return report
    report["features"] = feature_drift(cols, stats, rules)
    report["prediction"] = prediction_drift(cols["churn_probability"], float(stats["churn_rate"]), rules)
    flagged = [f"{name} ({', '.join(r['rules'])})" for name, r in report["features"].items() if r["drifted"]]
    if report["prediction"]["drifted"]:
        flagged.append("prediction")
    report["status"] = "drift" if flagged else "ok"
    report["message"] = (
        f"drift in {'; '.join(flagged)}"
        if flagged
        else f"no drift in {len(FEATURE_NAMES)} features and the predictions"
    )
    return report


def plot_rows(cols: Mapping[str, np.ndarray], stats: Mapping[str, Any]) -> dict[str, list[dict]]:
    """Per feature, the training and recent share of each bin, for DVC's bar plots.

    Rows are ``{"bin", "share", "source": "train" | "recent"}``, training rows first,
    bins in their natural order (the template keeps data order).
    """
    out: dict[str, list[dict]] = {}
    n = int(cols["churn_probability"].size) if "churn_probability" in cols else 0
    for f in FEATURES:
        if isinstance(f, CategoricalFeature):
            labels = list(f.categories)
            train = np.array([stats["categorical"][f.name]["counts"][c] for c in labels], dtype=np.float64)
            recent = np.bincount(cols[f.name], minlength=len(labels)) if n else np.zeros(len(labels))
        else:
            bins = numeric_bins(stats["numeric"][f.name])
            labels = bins.labels(integer=f.integer)
            train = bins.train_counts.astype(np.float64)
            recent = np.bincount(bins.assign(cols[f.name]), minlength=len(labels)) if n else np.zeros(len(labels))
        rows = [
            {"bin": b, "share": _r(c / train.sum(), 4), "source": "train"} for b, c in zip(labels, train, strict=True)
        ]
        rows += [
            {"bin": b, "share": _r(c / n if n else 0.0, 4), "source": "recent"}
            for b, c in zip(labels, recent, strict=True)
        ]
        out[f.name] = rows
    return out


# --------------------------------------------------------------------------- table


def _fmt(x: Any, spec: str = ".3f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def render_table(report: Mapping[str, Any]) -> str:
    """A compact, fixed-width summary of a drift report for the terminal."""
    lines = [f"status: {report['status']}  ({report['message']})"]
    skipped = report.get("skipped_reasons") or {}
    detail = ", ".join(f"{k} {v}" for k, v in skipped.items())
    lines.append(
        f"records: {report['n']} of last_n={report['last_n']}; skipped lines: {report['skipped_lines']}"
        + (f" ({detail})" if detail else "")
    )
    if not report["features"]:
        return "\n".join(lines)
    header = f"{'feature':<22}{'drift':<7}{'rules':<10}{'z':>9}{'effect':>9}{'psi':>8}{'chi2':>9}{'p':>10}"
    lines += ["", header, "-" * len(header)]
    for name, r in report["features"].items():
        lines.append(
            f"{name:<22}{'YES' if r['drifted'] else 'no':<7}{','.join(r['rules']) or '-':<10}"
            f"{_fmt(r.get('z'), '.2f'):>9}{_fmt(r.get('effect'), '.3f'):>9}{_fmt(r.get('psi'), '.3f'):>8}"
            f"{_fmt(r.get('chi2'), '.1f'):>9}{_fmt(r.get('p_value'), '.2g'):>10}"
        )
    p = report["prediction"]
    lines.append(
        f"{'prediction':<22}{'YES' if p['drifted'] else 'no':<7}{'z' if p['drifted'] else '-':<10}"
        f"{_fmt(p['z'], '.2f'):>9}   mean {p['mean_probability']:.3f}"
        f" vs training churn rate {p['train_churn_rate']:.3f}"
    )
    lines.append(
        f"thresholds: |z| > {report['z_threshold']:g}, psi >= {report['psi_threshold']:g} (and above its noise floor), "
        f"chi2 p < {report['chi2_alpha']:g}"
    )
    return "\n".join(lines)
