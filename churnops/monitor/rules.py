"""Drift statistics: recent prediction-log records against the training statistics.

Every rule here is a pure function of arrays and the ``train_stats.json`` mapping, so the
tests can check the rules' error rates on thousands of generated samples in seconds.

Rules (``docs/monitoring.md`` explains them, their power and their false-alarm rates):

- data quality: the share of invalid lines in the window (see
  :mod:`churnops.monitor.quality`) flags above ``max_invalid_fraction``;
- numeric features, the z rule (location): ``z = (mean_recent - mean_train) /
  (std_train / sqrt(n))`` flags ``|z| > z_threshold``; ``effect = (mean_recent -
  mean_train) / std_train``;
- numeric features, the PSI rule (shape: spread, skew, a new mode): PSI on the exact
  training-decile bins that ``prepare`` records flags ``psi >= psi_crit``, the value
  sampling noise alone exceeds with probability ``chi2_alpha`` at this ``n`` (``n * PSI``
  is approximately chi-square with ``bins - 1`` degrees of freedom); no fixed 0.2 gate;
- categorical features, a chi-square goodness-of-fit test on the counts flags
  ``p_value < chi2_alpha`` (their PSI is reported, as a size);
- predictions: the recent mean churn probability against the training churn rate, with
  the z rule and the binomial standard error ``sqrt(r (1 - r) / n)``.

Each feature is judged on its own valid values, the predictions on the records that
carry a valid probability. The status is ``drift`` when any rule flags, ``ok`` otherwise,
and ``insufficient_data`` when the window holds fewer than ``min_samples`` lines or no
feature has ``min_samples`` valid values (nothing is flagged then).

Length: the rules, the report assembled from them, the plot rows and the terminal table
share the per-feature result dicts. The table and plot rows are the next cut (issue 12
left it: the typed train-stats model should land first).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.errors import DataError
from churnops.core.schema import CATEGORICAL, FEATURES, NUMERIC, CategoricalFeature

if TYPE_CHECKING:
    from churnops.core.params import MonitorParams

PSI_STABLE = 0.1
"""Below this PSI a distribution is read as stable (the usual reading; >= 0.2 is shifted)."""
PSEUDO_COUNT = 0.5
"""Added to every bin's count before PSI, so an empty bin gives a large but finite term."""


@dataclass(frozen=True, slots=True)
class Rules:
    """The thresholds of the drift rules (``monitor.*`` in params.yaml; values live only there)."""

    z_threshold: float
    chi2_alpha: float
    min_samples: int
    max_invalid_fraction: float

    @classmethod
    def from_params(cls, p: MonitorParams) -> Rules:
        """The rules a ``monitor`` params section sets (the one place that maps them)."""
        return cls(
            z_threshold=p.z_threshold,
            chi2_alpha=p.chi2_alpha,
            min_samples=p.min_samples,
            max_invalid_fraction=p.max_invalid_fraction,
        )


def _r(x: float | None, digits: int = 6) -> float | None:
    """Round for a stable, diffable metrics file; JSON has no inf/NaN, so those become null."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def _sig(x: float | None, digits: int = 3) -> float | None:
    """Keep ``digits`` significant digits (p-values: 1.9e-09, not 0.0); inf/NaN become null."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{float(x):.{digits}g}")


# --------------------------------------------------------------------------- training stats


def _require(cond: bool, path: str, what: str) -> None:
    if not cond:
        raise DataError(f"{path}: not valid training statistics: {what}")


def validate_stats(stats: Any, source: str = "train_stats.json") -> dict[str, Any]:
    """Check that ``stats`` holds what the rules need for every schema feature.

    Raises:
        DataError: naming the file and the first missing or malformed entry.
    """
    _require(isinstance(stats, dict), source, "not a JSON object")
    rate = stats.get("churn_rate")
    _require(isinstance(rate, int | float) and 0 <= rate <= 1, source, "churn_rate missing or not in 0..1")
    for f in NUMERIC:
        s: Any = (stats.get("numeric") or {}).get(f.name)
        _require(isinstance(s, dict), source, f"numeric.{f.name} missing")
        for key in ("mean", "std"):
            _require(isinstance(s.get(key), int | float) and math.isfinite(s[key]), source, f"numeric.{f.name}.{key}")
        _require(s["std"] >= 0, source, f"numeric.{f.name}.std is negative")
        b: Any = s.get("psi_bins")
        ok = (
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
    for cf in CATEGORICAL:
        s = (stats.get("categorical") or {}).get(cf.name)
        _require(isinstance(s, dict) and isinstance(s.get("counts"), dict), source, f"categorical.{cf.name} missing")
        counts = s["counts"]
        for c in cf.categories:
            _require(isinstance(counts.get(c), int) and counts[c] >= 0, source, f"categorical.{cf.name}.counts.{c}")
        _require(sum(counts[c] for c in cf.categories) > 0, source, f"categorical.{cf.name}.counts are all zero")
    result: dict[str, Any] = stats
    return result


def load_stats(path: str | Path) -> dict[str, Any]:
    """Read and validate ``train_stats.json`` (the file prepare writes).

    Raises:
        DataError: missing, unreadable or incomplete file, naming the path.
    """
    from churnops.core.io import read_json

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
    """The training-decile bins ``prepare`` records as ``psi_bins``, with exact training counts."""
    exact = feature_stats["psi_bins"]
    return Bins(
        cuts=np.asarray(exact["cuts"], dtype=np.float64), train_counts=np.asarray(exact["counts"], dtype=np.int64)
    )


# --------------------------------------------------------------------------- rules


def psi(recent_counts: np.ndarray, train_counts: np.ndarray) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over bins.

    Both sides get :data:`PSEUDO_COUNT` per bin, so empty bins give finite values.
    """
    a = (recent_counts + PSEUDO_COUNT) / (recent_counts.sum() + PSEUDO_COUNT * recent_counts.size)
    e = (train_counts + PSEUDO_COUNT) / (train_counts.sum() + PSEUDO_COUNT * train_counts.size)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_crit(n: int, bins: int, alpha: float) -> float:
    """The PSI that sampling noise alone exceeds with probability about ``alpha``.

    For a sample from the training distribution, ``n * PSI`` is approximately
    chi-square with ``bins - 1`` degrees of freedom (PSI is the symmetrised
    Kullback-Leibler divergence; for small differences it equals Pearson's X^2 / n). At
    alpha=0.01 and 10 bins this is 0.108 at n=200, 0.043 at n=500 and 0.72 at n=30: a
    threshold that follows n, where a fixed 0.2 misses real shape changes at large n
    and flags noise at small n.
    """
    from scipy.stats import chi2

    if bins < 2 or n < 1:
        return math.inf
    return float(chi2.isf(alpha, bins - 1) / n)


def psi_rule(recent_counts: np.ndarray, train_counts: np.ndarray, alpha: float) -> tuple[float, float, float, bool]:
    """PSI over the bins, its critical value and p-value at this sample size, and whether it flags."""
    from scipy.stats import chi2

    n = int(recent_counts.sum())
    value = psi(recent_counts, train_counts)
    crit = psi_crit(n, train_counts.size, alpha)
    p = float(chi2.sf(n * value, train_counts.size - 1)) if train_counts.size >= 2 else 1.0
    return value, crit, p, value >= crit


def z_score(mean_recent: float, mean_train: float, std_train: float, n: int) -> float | None:
    """The lab's z rule statistic; None when the training std is 0 (z is undefined)."""
    if std_train <= 0:
        return None
    return (mean_recent - mean_train) / (std_train / math.sqrt(n))


def numeric_drift(x: np.ndarray, feature_stats: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """The z rule (location), effect size and PSI rule (shape) of one numeric feature."""
    n = x.size
    mean_r = float(x.mean())
    mean_t = float(feature_stats["mean"])
    std_t = float(feature_stats["std"])
    z = z_score(mean_r, mean_t, std_t, n)
    effect = (mean_r - mean_t) / std_t if std_t > 0 else None
    bins = numeric_bins(feature_stats)
    counts = np.bincount(bins.assign(x), minlength=bins.train_counts.size)
    value, crit, p, by_psi = psi_rule(counts, bins.train_counts, rules.chi2_alpha)
    by_z = abs(z) > rules.z_threshold if z is not None else mean_r != mean_t
    if bins.train_counts.size < 2:  # a constant training feature: the z rule's fallback decides
        by_psi = False
    return {
        "drifted": bool(by_z or by_psi),
        "rules": [r for r, hit in (("z", by_z), ("psi", by_psi)) if hit],
        "n": int(n),
        "z": _r(z, 4),
        "effect": _r(effect, 4),
        "mean_recent": _r(mean_r, 4),
        "mean_train": _r(mean_t, 4),
        "psi": _r(value, 4),
        "psi_crit": _r(crit, 4),
        "psi_p": _sig(p),
    }


def categorical_drift(
    codes: np.ndarray, feature: CategoricalFeature, feature_stats: Mapping[str, Any], rules: Rules
) -> dict[str, Any]:
    """Chi-square goodness of fit of one categorical feature (``codes`` index its categories); PSI as a size."""
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
    by_chi2 = p_value < rules.chi2_alpha
    return {
        "drifted": bool(by_chi2),
        "rules": ["chi2"] if by_chi2 else [],
        "n": int(n),
        "chi2": _r(stat, 4),
        "p_value": _sig(p_value),
        "psi": _r(psi(observed, train), 4),
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
        "n": int(n),
        "mean_probability": _r(mean, 4),
        "train_churn_rate": _r(churn_rate, 4),
        "difference": _r(mean - churn_rate, 4),
        "z": _r(z, 4),
    }


# --------------------------------------------------------------------------- columns and report


def columns(records: Sequence[Sequence[Any]]) -> dict[str, np.ndarray]:
    """Turn complete records (feature values in schema order, then the probability) into arrays.

    Numeric features become float64; categorical ones int codes into the schema's
    categories; the probability is under ``"churn_probability"``. (The monitor builds its
    columns from a window with :func:`churnops.monitor.quality.summarize`, where each
    feature keeps its own valid values.)
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


def feature_drift(cols: Mapping[str, np.ndarray], stats: Mapping[str, Any], rules: Rules) -> dict[str, dict[str, Any]]:
    """Per-feature results for every schema feature in ``cols``.

    A feature with fewer than ``min_samples`` valid values is not judged:
    ``{"drifted": False, "rules": [], "n": n, "checked": False}``.
    """
    out: dict[str, dict[str, Any]] = {}
    for f in FEATURES:
        if f.name not in cols:
            continue
        x = cols[f.name]
        if x.size < rules.min_samples:
            out[f.name] = {"drifted": False, "rules": [], "n": int(x.size), "checked": False}
        elif isinstance(f, CategoricalFeature):
            out[f.name] = categorical_drift(x, f, stats["categorical"][f.name], rules)
        else:
            out[f.name] = numeric_drift(x, stats["numeric"][f.name], rules)
    return out


def drift_report(
    cols: Mapping[str, np.ndarray],
    stats: Mapping[str, Any],
    rules: Rules,
    last_n: int,
    quality: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The full drift report (``metrics/details/monitor.json``): deterministic, no time, no absolute path.

    Args:
        cols: recent values per feature (each feature its valid values) and
            ``churn_probability`` (the valid probabilities).
        stats: validated training statistics.
        rules: thresholds.
        last_n: the window size asked for.
        quality: the window's data quality (:func:`churnops.monitor.quality.quality_report`);
            None for arrays that are all valid (the window is then the longest column).
        note: why there is no data, when there is none (e.g. the log is missing).
    """
    if quality is None:
        lines = max((int(c.size) for c in cols.values()), default=0)
        quality = {"lines": lines, "invalid_lines": 0, "invalid_fraction": 0.0, "drifted": False}
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
    report["features"] = features = feature_drift(cols, stats, rules)
    proba = cols.get("churn_probability", np.zeros(0))
    if proba.size >= rules.min_samples:
        report["prediction"] = prediction_drift(proba, float(stats["churn_rate"]), rules)
    else:
        report["prediction"] = {"drifted": False, "n": int(proba.size), "checked": False}
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

    ``flagged`` names what fired, space-separated (``"-"`` when nothing did); the
    breakdowns stay in the full report, which is not a DVC metric.
    """
    return {
        "status": report["status"],
        "flagged": " ".join(report["flagged"]) or "-",
        "invalid_fraction": report["invalid_fraction"],
    }


def plot_rows(
    cols: Mapping[str, np.ndarray], stats: Mapping[str, Any], report: Mapping[str, Any] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per feature, the training and recent share of each bin, for DVC's bar plots.

    Rows are ``{"bin", "share", "source": "train" | "recent", "series", "verdict"}``,
    training rows first, bins in their natural order (the template keeps data order).
    ``series`` is ``"recent, flagged"`` for the recent bars of a feature the report flags
    (drawn in red), and ``verdict`` says which rules fired (``"drift (z, psi)"``), so
    the plot says which features are alarms and which are noise.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    results = (report or {}).get("features") or {}
    for f in FEATURES:
        x = cols.get(f.name, np.zeros(0, dtype=np.int64))
        n = int(x.size)
        if isinstance(f, CategoricalFeature):
            labels = list(f.categories)
            train = np.array([stats["categorical"][f.name]["counts"][c] for c in labels], dtype=np.float64)
            recent = np.bincount(x.astype(np.int64), minlength=len(labels)) if n else np.zeros(len(labels))
        else:
            bins = numeric_bins(stats["numeric"][f.name])
            labels = bins.labels(integer=f.integer)
            train = bins.train_counts.astype(np.float64)
            recent = np.bincount(bins.assign(x), minlength=len(labels)) if n else np.zeros(len(labels))
        r = results.get(f.name) or {}
        if r.get("drifted"):
            series, verdict = "recent, flagged", f"drift ({', '.join(r['rules'])})"
        else:
            series, verdict = "recent", "no drift" if r.get("checked", bool(r)) else "not checked"
        rows = [
            {"bin": b, "share": _r(c / train.sum(), 4), "source": "train", "series": "train", "verdict": verdict}
            for b, c in zip(labels, train, strict=True)
        ]
        rows += [
            {"bin": b, "share": _r(c / n if n else 0.0, 4), "source": "recent", "series": series, "verdict": verdict}
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
    q = report.get("quality") or {}
    t = report["thresholds"]
    lines = [f"status: {report['status']}  ({report['message']})"]
    invalid = q.get("invalid_lines", 0)
    detail = ", ".join(f"{k} {v['lines']}" for k, v in (q.get("reasons") or {}).items())
    lines.append(
        f"lines: {report['lines']} of last_n={report['last_n']}; invalid: {invalid}"
        f" ({report['invalid_fraction']:.1%}{'; ' + detail if detail else ''})"
    )
    for feature, values in (q.get("unseen_categories") or {}).items():
        shown = ", ".join(f"{v!r} {c}" for v, c in values.items())
        lines.append(f"unseen {feature} categories: {shown}")
    if not report["features"]:
        return "\n".join(lines)
    header = (
        f"{'feature':<22}{'drift':<7}{'rules':<9}{'n':>6}{'z':>9}{'effect':>8}{'psi':>7}{'psi p':>9}{'chi2':>8}{'p':>9}"
    )
    lines += ["", header, "-" * len(header)]
    for name, r in report["features"].items():
        drift = "YES" if r["drifted"] else ("no" if r.get("checked", True) else "n/a")
        lines.append(
            f"{name:<22}{drift:<7}{','.join(r['rules']) or '-':<9}{r['n']:>6}"
            f"{_fmt(r.get('z'), '.2f'):>9}{_fmt(r.get('effect'), '.3f'):>8}{_fmt(r.get('psi'), '.3f'):>7}"
            f"{_fmt(r.get('psi_p'), '.2g'):>9}{_fmt(r.get('chi2'), '.1f'):>8}{_fmt(r.get('p_value'), '.2g'):>9}"
        )
    p = report["prediction"]
    if p.get("checked", True):
        lines.append(
            f"{'prediction':<22}{'YES' if p['drifted'] else 'no':<7}{'z' if p['drifted'] else '-':<9}{p['n']:>6}"
            f"{_fmt(p['z'], '.2f'):>9}   mean {p['mean_probability']:.3f}"
            f" vs training churn rate {p['train_churn_rate']:.3f}"
        )
    else:
        lines.append(f"{'prediction':<22}{'n/a':<7}{'-':<9}{p['n']:>6}   (no valid churn_probability)")
    lines.append(
        f"thresholds: |z| > {t['z_threshold']:g}; psi above its noise level and chi2 at p < {t['chi2_alpha']:g}; "
        f"invalid lines <= {t['max_invalid_fraction']:.0%}"
    )
    return "\n".join(lines)
