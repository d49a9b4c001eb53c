"""What the report keeps of a chunk's lines for one model version: counts and sums, never the lines.

A :class:`Group` holds exactly what the monitor's rules need (each numeric feature's count, sum
and PSI-bin counts, each category's count, the probabilities' count and sum, the data-quality
counters of :func:`churnops.monitor.quality.summarize`) plus the expected confusion matrix
of CBPE. Groups add up, so memory is flat in the log's length and a chunk is the sum of its
versions' groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.schema import CATEGORICAL, FEATURES, NUMERIC, CategoricalFeature
from churnops.monitor.quality import quality_report
from churnops.monitor.rules import categorical_verdict, numeric_bins, numeric_verdict, prediction_verdict
from churnops.monitor.verdict import assemble, judged, unchecked_prediction

if TYPE_CHECKING:
    from churnops.core.trainstats import TrainStats
    from churnops.monitor.rules import Rules


@dataclass
class Expected:
    """Sums of the served probabilities split by the logged decision: CBPE's expected confusion matrix.

    Outcomes are independent Bernoulli(p) for a calibrated model, so TP (the churners among the
    predicted positives) has mean ``pos_p`` and variance ``pos_p - pos_p2``; FN likewise.
    """

    pos_n: int = 0
    pos_p: float = 0.0
    pos_p2: float = 0.0
    neg_n: int = 0
    neg_p: float = 0.0
    neg_p2: float = 0.0

    def add(self, p: np.ndarray, decided: np.ndarray) -> None:
        """``p`` the valid probabilities of lines with a logged decision, ``decided`` that decision."""
        pos, neg = p[decided], p[~decided]
        self.pos_n += int(pos.size)
        self.pos_p += float(pos.sum())
        self.pos_p2 += float(np.square(pos).sum())
        self.neg_n += int(neg.size)
        self.neg_p += float(neg.sum())
        self.neg_p2 += float(np.square(neg).sum())

    def merge(self, o: Expected) -> None:
        for name in ("pos_n", "pos_p", "pos_p2", "neg_n", "neg_p", "neg_p2"):
            setattr(self, name, getattr(self, name) + getattr(o, name))

    @property
    def n(self) -> int:
        return self.pos_n + self.neg_n


def _plus(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    """Bin counts added, the shorter padded with zeros (``bincount`` stops at the highest bin seen)."""
    if a is None:
        return b.astype(np.int64)
    size = max(a.size, b.size)
    out: np.ndarray = np.pad(a, (0, size - a.size)) + np.pad(b, (0, size - b.size))
    return out


def _counters() -> dict[str, Counter[str]]:
    return {f.name: Counter() for f in FEATURES}


@dataclass
class Group:
    """One chunk's lines of one model version (or a whole chunk, once merged)."""

    lines: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    problems: dict[str, Counter[str]] = field(default_factory=_counters)
    unseen: dict[str, Counter[str]] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    no_probability: int = 0
    blank_lines: int = 0
    num_n: dict[str, int] = field(default_factory=lambda: {f.name: 0 for f in NUMERIC})
    num_sum: dict[str, float] = field(default_factory=lambda: {f.name: 0.0 for f in NUMERIC})
    bins: dict[str, np.ndarray] = field(default_factory=dict)
    cats: dict[str, np.ndarray] = field(
        default_factory=lambda: {f.name: np.zeros(len(f.categories), np.int64) for f in CATEGORICAL}
    )
    p_n: int = 0
    p_sum: float = 0.0
    expected: Expected = field(default_factory=Expected)
    ts_min: float | None = None
    ts_max: float | None = None
    first_line: int | None = None
    """Position of its first line in the logs read in order (1-based, blank lines counted)."""

    def add_values(
        self,
        numeric: Mapping[str, np.ndarray],
        bins: Mapping[str, np.ndarray],
        codes: Mapping[str, np.ndarray],
        proba: np.ndarray,
        decided: np.ndarray | None,
    ) -> None:
        """Valid values: per feature its own (bins: their PSI-bin indices); ``proba`` the valid
        probabilities and ``decided`` the logged decision of each (None: no decisions)."""
        for name, x in numeric.items():
            self.num_n[name] += int(x.size)
            self.num_sum[name] += float(x.sum())
        for name, b in bins.items():
            self.bins[name] = _plus(self.bins.get(name), np.bincount(b))
        for name, c in codes.items():
            self.cats[name] += np.bincount(c, minlength=self.cats[name].size)
        self.p_n += int(proba.size)
        self.p_sum += float(proba.sum())
        if decided is not None:
            self.expected.add(proba, decided)

    def add_counts(self, counts: Mapping[str, Any]) -> None:
        """The data-quality counters of :func:`churnops.monitor.quality.summarize`."""
        self.lines += int(counts["lines"])
        self.reasons.update(counts["reasons"])
        for name, per in counts["features"].items():
            self.problems[name].update(per)
        for name, values in counts["unseen_categories"].items():
            self.unseen.setdefault(name, Counter()).update(values)
        self.rejected.update(counts["rejected_reasons"])
        self.no_probability += int(counts["no_probability"])
        self.blank_lines += int(counts["blank_lines"])

    def add_valid(self, lines: int, no_probability: int) -> None:
        """Lines that passed every schema check (``no_probability`` of them without a usable one)."""
        self.lines += lines
        self.no_probability += no_probability

    def span(self, ts_min: float | None, ts_max: float | None, first_line: int) -> None:
        if ts_min is not None:
            self.ts_min = ts_min if self.ts_min is None else min(self.ts_min, ts_min)
        if ts_max is not None:
            self.ts_max = ts_max if self.ts_max is None else max(self.ts_max, ts_max)
        self.first_line = first_line if self.first_line is None else min(self.first_line, first_line)

    def merge(self, o: Group) -> None:
        self.add_counts(o.counts())
        for name in self.num_n:
            self.num_n[name] += o.num_n[name]
            self.num_sum[name] += o.num_sum[name]
        for name, b in o.bins.items():
            self.bins[name] = _plus(self.bins.get(name), b)
        for name in self.cats:
            self.cats[name] += o.cats[name]
        self.p_n += o.p_n
        self.p_sum += o.p_sum
        self.expected.merge(o.expected)
        if o.first_line is not None:
            self.span(o.ts_min, o.ts_max, o.first_line)

    def counts(self) -> dict[str, Any]:
        """The counters in :func:`churnops.monitor.quality.summarize`'s shape."""
        return {
            "lines": self.lines,
            "reasons": self.reasons,
            "features": self.problems,
            "unseen_categories": self.unseen,
            "rejected_reasons": self.rejected,
            "no_probability": self.no_probability,
            "blank_lines": self.blank_lines,
        }

    def drift(self, stats: TrainStats, rules: Rules) -> dict[str, Any]:
        """The monitor's report on these lines: the same rules, thresholds and status logic."""
        quality = quality_report(self.counts(), rules.max_invalid_fraction)
        if self.lines < rules.min_samples:
            return assemble(quality, {}, {}, rules, self.lines)
        features: dict[str, dict[str, Any]] = {}
        for f in FEATURES:
            if isinstance(f, CategoricalFeature):
                c = self.cats[f.name]
                rule = partial(categorical_verdict, c, f, stats.categorical[f.name], rules)
                features[f.name] = judged(int(c.sum()), rule, rules)
            else:
                n, s = self.num_n[f.name], self.num_sum[f.name]
                fs = stats.numeric[f.name]
                size = numeric_bins(fs.psi_bins).train_counts.size
                counts = _plus(self.bins.get(f.name), np.zeros(size, np.int64))
                features[f.name] = judged(n, partial(numeric_verdict, n, s / n if n else 0.0, counts, fs, rules), rules)
        prediction = (
            prediction_verdict(self.p_n, self.p_sum / self.p_n, stats.churn_rate, rules)
            if self.p_n >= rules.min_samples
            else unchecked_prediction(self.p_n)
        )
        return assemble(quality, features, prediction, rules, self.lines)
