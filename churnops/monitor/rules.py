"""The drift rules: pure functions of recent values and the training statistics.

Each rule judges one feature (or the predictions) of one window: numeric features by the z
rule (location) and the PSI rule (shape), categorical ones by a chi-square goodness-of-fit
test, predictions by the z rule on their mean. ``docs/monitoring.md`` explains the rules,
their power and their false-alarm rates. Being pure, they can be checked for their error
rates on thousands of generated samples in seconds (``tests/monitor/test_drift.py``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.schema import CategoricalFeature
from churnops.core.trainstats import bin_index

if TYPE_CHECKING:
    from churnops.core.params import MonitorParams
    from churnops.core.trainstats import CategoricalStats, NumericStats, PsiBins

PSEUDO_COUNT = 0.5
"""Added to every bin's count before PSI, so an empty bin gives a large but finite term."""


@dataclass(frozen=True, slots=True)
class Rules:
    """The thresholds of the drift rules (``monitor.*`` in params.yaml)."""

    z_threshold: float
    chi2_alpha: float
    min_samples: int
    max_invalid_fraction: float

    @classmethod
    def from_params(cls, p: MonitorParams) -> Rules:
        """The one place that maps the params to the rules."""
        return cls(
            z_threshold=p.z_threshold,
            chi2_alpha=p.chi2_alpha,
            min_samples=p.min_samples,
            max_invalid_fraction=p.max_invalid_fraction,
        )


def fixed(x: float | None, digits: int = 6) -> float | None:
    """Round for a stable, diffable metrics file; JSON has no inf/NaN, so those become null."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def significant(x: float | None, digits: int = 3) -> float | None:
    """Keep ``digits`` significant digits (p-values: 1.9e-09, not 0.0); inf/NaN become null."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{float(x):.{digits}g}")


@dataclass(frozen=True, slots=True)
class Bins:
    """PSI bins of one numeric feature (:class:`churnops.core.trainstats.PsiBins`), as arrays."""

    cuts: np.ndarray
    train_counts: np.ndarray

    def assign(self, x: np.ndarray) -> np.ndarray:
        """:func:`churnops.core.trainstats.bin_index`."""
        return bin_index(self.cuts, x)

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


def numeric_bins(psi_bins: PsiBins) -> Bins:
    """The training-decile bins ``prepare`` records, as arrays."""
    return Bins(
        cuts=np.asarray(psi_bins.cuts, dtype=np.float64), train_counts=np.asarray(psi_bins.counts, dtype=np.int64)
    )


def psi(recent_counts: np.ndarray, train_counts: np.ndarray) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over bins, each with :data:`PSEUDO_COUNT`."""
    a = (recent_counts + PSEUDO_COUNT) / (recent_counts.sum() + PSEUDO_COUNT * recent_counts.size)
    e = (train_counts + PSEUDO_COUNT) / (train_counts.sum() + PSEUDO_COUNT * train_counts.size)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_crit(n: int, bins: int, alpha: float) -> float:
    """The PSI that sampling noise alone exceeds with probability about ``alpha``.

    For a sample from the training distribution, ``n * PSI`` is approximately chi-square
    with ``bins - 1`` degrees of freedom (for small differences PSI is Pearson's X^2 / n). At
    alpha=0.01 and 10 bins: 0.108 at n=200, 0.043 at n=500, 0.72 at n=30. A fixed 0.2 would
    miss real shape changes at large n and flag noise at small n.
    """
    from scipy.special import chdtri  # chi2.isf's own kernel: scipy.stats would cost a second to import

    if bins < 2 or n < 1:
        return math.inf
    return float(chdtri(bins - 1, alpha) / n)


def psi_rule(recent_counts: np.ndarray, train_counts: np.ndarray, alpha: float) -> tuple[float, float, float, bool]:
    """PSI over the bins, its critical value and p-value at this sample size, and whether it flags."""
    from scipy.special import chdtrc  # chi2.sf's kernel

    n = int(recent_counts.sum())
    value = psi(recent_counts, train_counts)
    crit = psi_crit(n, train_counts.size, alpha)
    p = float(chdtrc(train_counts.size - 1, n * value)) if train_counts.size >= 2 else 1.0
    return value, crit, p, value >= crit


def z_score(mean_recent: float, mean_train: float, std_train: float, n: int) -> float | None:
    """The lab's z rule statistic; None when the training std is 0 (z is undefined)."""
    if std_train <= 0:
        return None
    return (mean_recent - mean_train) / (std_train / math.sqrt(n))


def numeric_drift(x: np.ndarray, feature_stats: NumericStats, rules: Rules) -> dict[str, Any]:
    """The z rule (location), effect size and PSI rule (shape) of one numeric feature."""
    bins = numeric_bins(feature_stats.psi_bins)
    counts = np.bincount(bins.assign(x), minlength=bins.train_counts.size)
    return numeric_verdict(int(x.size), float(x.mean()), counts, feature_stats, rules)


def numeric_verdict(
    n: int, mean_r: float, counts: np.ndarray, feature_stats: NumericStats, rules: Rules
) -> dict[str, Any]:
    """:func:`numeric_drift` from a sample's size, mean and PSI-bin counts: what a stream keeps per chunk."""
    mean_t = feature_stats.mean
    std_t = feature_stats.std
    z = z_score(mean_r, mean_t, std_t, n)
    effect = (mean_r - mean_t) / std_t if std_t > 0 else None
    bins = numeric_bins(feature_stats.psi_bins)
    value, crit, p, by_psi = psi_rule(counts, bins.train_counts, rules.chi2_alpha)
    by_z = abs(z) > rules.z_threshold if z is not None else mean_r != mean_t
    if bins.train_counts.size < 2:  # a constant training feature: the z rule's fallback decides
        by_psi = False
    return {
        "drifted": bool(by_z or by_psi),
        "rules": [r for r, hit in (("z", by_z), ("psi", by_psi)) if hit],
        "n": int(n),
        "z": fixed(z, 4),
        "effect": fixed(effect, 4),
        "mean_recent": fixed(mean_r, 4),
        "mean_train": fixed(mean_t, 4),
        "psi": fixed(value, 4),
        "psi_crit": fixed(crit, 4),
        "psi_p": significant(p),
    }


def categorical_drift(
    codes: np.ndarray, feature: CategoricalFeature, feature_stats: CategoricalStats, rules: Rules
) -> dict[str, Any]:
    """Chi-square goodness of fit of one categorical feature (``codes`` index its categories); PSI as a size."""
    observed = np.bincount(codes, minlength=len(feature.categories)).astype(np.int64)
    return categorical_verdict(observed, feature, feature_stats, rules)


def categorical_verdict(
    observed: np.ndarray, feature: CategoricalFeature, feature_stats: CategoricalStats, rules: Rules
) -> dict[str, Any]:
    """:func:`categorical_drift` from the count of each category (in ``feature.categories`` order)."""
    from scipy.special import chdtrc

    n = int(observed.sum())
    train = np.array([feature_stats.counts[c] for c in feature.categories], dtype=np.int64)
    present = train > 0
    if np.any(observed[~present] > 0):
        # A category training never saw: the test's statistic is infinite, the drift certain.
        stat, p_value = None, 0.0
    elif present.sum() < 2:
        stat, p_value = 0.0, 1.0
    else:
        expected = train[present] / train[present].sum() * n
        # Pearson's statistic and its chi-square p-value, as scipy.stats.chisquare computes them.
        stat = float(((observed[present] - expected) ** 2 / expected).sum())
        p_value = float(chdtrc(int(present.sum()) - 1, stat))
    by_chi2 = p_value < rules.chi2_alpha
    return {
        "drifted": bool(by_chi2),
        "rules": ["chi2"] if by_chi2 else [],
        "n": int(n),
        "chi2": fixed(stat, 4),
        "p_value": significant(p_value),
        "psi": fixed(psi(observed, train), 4),
        "shares": {c: fixed(observed[i] / n, 4) for i, c in enumerate(feature.categories)},
    }


def prediction_drift(proba: np.ndarray, churn_rate: float, rules: Rules) -> dict[str, Any]:
    """Recent mean churn probability against the training churn rate.

    The binomial standard error ``sqrt(r (1 - r) / n)`` bounds a calibrated model's probability
    variance, so the rule is conservative: its false-alarm rate is at most the z rule's nominal one.
    """
    return prediction_verdict(int(proba.size), float(proba.mean()), churn_rate, rules)


def prediction_verdict(n: int, mean: float, churn_rate: float, rules: Rules) -> dict[str, Any]:
    """:func:`prediction_drift` from the number of probabilities and their mean."""
    se = math.sqrt(churn_rate * (1 - churn_rate) / n)
    z = (mean - churn_rate) / se if se > 0 else None
    drifted = abs(z) > rules.z_threshold if z is not None else mean != churn_rate
    return {
        "drifted": bool(drifted),
        "n": int(n),
        "mean_probability": fixed(mean, 4),
        "train_churn_rate": fixed(churn_rate, 4),
        "difference": fixed(mean - churn_rate, 4),
        "z": fixed(z, 4),
    }
