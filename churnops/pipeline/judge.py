"""Is the candidate better than the champion beyond noise? The ``judge`` stage's verdict, pure.

Both models decide (each at its own threshold) on the SAME rows, so their F1s are paired: a
row both get right or both get wrong moves both F1s alike, and only the rows where they
disagree tell them apart. The F1 gain (candidate minus champion) is bootstrapped by
resampling the rows, and the candidate is recommended (``promote``) only if the one-sided
lower bound of the gain at ``promote.confidence`` exceeds ``promote.min_gain``; otherwise
``keep``. An F1 on 600 rows moves by about ±0.02 between equally good models, so a bare
comparison of two F1s acts on noise; docs/promotion.md gives the rule's measured
false-promotion rate and power (bench/promotion.py).

Every row is one of 8 cells (label, candidate's decision, champion's decision), and both F1s
are functions of the 8 cell counts. Resampling rows is therefore counting the cells of the
drawn row indexes: exact, and cheap enough for the 40k-row test set. The draws are integers
(``Generator(PCG64(seed)).integers``), every F1 is one division of integer counts, and the
bound is an order statistic: the verdict is the same bit for bit on any CPU (no
floating-point sampling, no libm).

The basis is the feedback hold-out (recent labeled traffic, never trained on) when it has
at least ``promote.min_holdout`` rows and both classes, else the fixed test set; the F1s on
both are reported side by side.

Length: one decision and the statistics it rests on. The bootstrap (cells, draws, counts,
bound) has no other user, and apart from the verdict it would have to export its cell layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.errors import DataError
from churnops.core.schema import FEATURE_NAMES, LABEL

if TYPE_CHECKING:
    import pandas as pd

    from churnops.core.params import PromoteParams
    from churnops.pipeline.scorer import Scorer

PROMOTE, KEEP, NO_CHAMPION, SAME_MODEL = "promote", "keep", "first", "same"
"""The verdicts: better beyond noise; not shown better; no champion pinned (the first model);
the candidate is the champion. Short words: the verdict is a column of `dvc metrics show`,
which must fit 160 columns (``no_champion`` would take it to 162)."""
RECOMMENDED = frozenset({PROMOTE, NO_CHAMPION})
"""Verdicts that recommend deploying the candidate (the first model, or a better one)."""

BASIS_HOLDOUT, BASIS_TEST = "feedback_holdout", "test"
_BASIS_WORDS = {BASIS_HOLDOUT: "the feedback hold-out", BASIS_TEST: "the test set"}

CHUNK_DRAWS = 1 << 21
"""Row indexes drawn at a time (16 MiB as int64): bounds memory whatever the set's size."""

# Cell code of a row: 4 * label + 2 * candidate's decision + champion's decision.
_CANDIDATE = {"tp": (6, 7), "fp": (2, 3), "fn": (4, 5)}
_CHAMPION = {"tp": (5, 7), "fp": (1, 3), "fn": (4, 6)}


def cells(y: np.ndarray, candidate: np.ndarray, champion: np.ndarray) -> np.ndarray:
    """The cell code (0..7) of each row: ``4 * label + 2 * candidate decision + champion decision``."""
    out: np.ndarray = (4 * np.asarray(y, dtype=np.uint8) + 2 * np.asarray(candidate, dtype=np.uint8)) + np.asarray(
        champion, dtype=np.uint8
    )
    return out


def cell_counts(codes: np.ndarray) -> np.ndarray:
    """How many rows fall in each of the 8 cells."""
    counts: np.ndarray = np.bincount(codes, minlength=8)
    return counts


def _f1(counts: np.ndarray, which: dict[str, tuple[int, int]]) -> np.ndarray:
    def total(name: str) -> np.ndarray:
        a, b = which[name]
        s: np.ndarray = counts[..., a] + counts[..., b]
        return s

    tp2 = 2 * total("tp")
    denominator = tp2 + total("fp") + total("fn")
    # No positive among labels or decisions: F1 is 0, as scikit-learn's zero_division=0 has it.
    f1: np.ndarray = np.divide(tp2, denominator, out=np.zeros(denominator.shape), where=denominator > 0)
    return f1


def f1_pair(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(candidate F1, champion F1) from cell counts of shape ``(..., 8)``.

    F1 = 2 TP / (2 TP + FP + FN): one correctly rounded division of integers, so the same
    counts give the same bits everywhere.
    """
    return _f1(counts, _CANDIDATE), _f1(counts, _CHAMPION)


def index_draws(seed: int, n: int, resamples: int) -> Iterator[np.ndarray]:
    """The bootstrap's row indexes: ``resamples`` rows of ``n`` draws from ``range(n)``, in chunks.

    Integer draws only (PCG64 and numpy's bounded-integer algorithm): the same indexes on
    any CPU. The chunk size is a function of ``n`` alone, so the stream is too.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    per_chunk = max(1, CHUNK_DRAWS // max(n, 1))
    for start in range(0, resamples, per_chunk):
        yield rng.integers(0, n, size=(min(per_chunk, resamples - start), n), dtype=np.int64)


def bootstrap_counts(codes: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Cell counts of each resample (shape ``(resamples, 8)``): the set's rows resampled, counted by cell.

    The rows are taken in cell order (a stable sort of ``codes``), so a drawn index's cell is
    the range of the sorted codes it falls in: counting a resample's cells is comparing its
    indexes with the 7 range boundaries, with no gather of the rows.
    """
    ordered = np.sort(np.asarray(codes, dtype=np.uint8), kind="stable")
    below = np.searchsorted(ordered, np.arange(1, 9), side="left")  # rows in cells < 1, < 2, ... < 8
    out = np.empty((resamples, 8), dtype=np.int64)
    done = 0
    for draws in index_draws(seed, len(ordered), resamples):
        k = len(draws)
        cumulative = np.stack([np.count_nonzero(draws < b, axis=1) for b in below[:-1]], axis=1)
        out[done : done + k, 0] = cumulative[:, 0]
        out[done : done + k, 1:7] = np.diff(cumulative, axis=1)
        out[done : done + k, 7] = len(ordered) - cumulative[:, -1]
        done += k
    return out


def bootstrap_gains(codes: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """The F1 gain (candidate minus champion) of each bootstrap resample of the rows."""
    candidate, champion = f1_pair(bootstrap_counts(codes, resamples, seed))
    gains: np.ndarray = candidate - champion
    return gains


def bound_rank(confidence: float, resamples: int) -> int:
    """How many resamples the one-sided bound leaves beyond it: ``ceil((1 - confidence) * resamples)``.

    In decimal arithmetic on the value as written in params.yaml (0.95 is 19/20 here, not
    the binary float just below it), so 2000 resamples at 0.95 leave exactly 100.
    """
    alpha = 1 - Decimal(repr(confidence))
    return max(1, math.ceil(alpha * resamples))


def lower_bound(gains: np.ndarray, gain: float, confidence: float) -> float:
    """The one-sided basic-bootstrap lower bound of the gain at ``confidence``.

    ``2 * gain - q``, ``q`` the resampled gains' ``confidence`` quantile (an order statistic):
    the estimate less how far resamples overshoot it. The plain percentile bound (the
    ``1 - confidence`` quantile itself) promotes equally good models at about the 5 % a 95 %
    bound must not exceed, and above it in some runs: when a dozen rows tell two models apart,
    the resamples of a lucky 9-to-3 split rarely fall to zero, although equally good models
    produce such splits often. The basic bound stays below; docs/promotion.md has both.
    """
    rank = len(gains) - bound_rank(confidence, len(gains))  # 0-based: the confidence quantile
    return float(2 * gain - np.partition(gains, rank)[rank])


@dataclass(frozen=True)
class Weighed:
    """The bootstrap's evidence on one set's paired rows."""

    gain: float
    """Candidate F1 minus champion F1 on the rows."""
    lower_bound: float
    share_at_or_below: float
    """Share of the bootstrap distribution of the gain (resampled gains reflected about the
    estimate, ``2 * gain - g``, as the bound uses them) at or below ``min_gain``. The bound exceeds
    ``min_gain`` exactly when this share is below ``ceil((1 - confidence) * resamples) / resamples``."""
    discordant: dict[str, int]
    """Rows where exactly one model is right: the only rows that tell the two apart."""
    promote: bool
    gains: np.ndarray = field(repr=False, compare=False)
    """The resampled gains themselves (for the bench; not an output)."""


def weigh(codes: np.ndarray, params: PromoteParams) -> Weighed:
    """Bootstrap the F1 gain on rows given as cell codes, and apply the rule: promote iff the bound > ``min_gain``."""
    counts = cell_counts(codes)
    f1_candidate, f1_champion = f1_pair(counts)
    gain = float(f1_candidate - f1_champion)
    gains = bootstrap_gains(codes, params.resamples, params.seed)
    bound = lower_bound(gains, gain, params.confidence)
    return Weighed(
        gain=gain,
        lower_bound=bound,
        share_at_or_below=int(np.count_nonzero(2 * gain - gains <= params.min_gain)) / len(gains),
        discordant={
            "candidate_right": int(counts[0b001] + counts[0b110]),
            "champion_right": int(counts[0b010] + counts[0b101]),
        },
        promote=bound > params.min_gain,
        gains=gains,
    )


def decisions(scorer: Scorer, frame: pd.DataFrame) -> np.ndarray:
    """``scorer``'s churn decisions on ``frame`` at its own threshold."""
    if len(frame) == 0:
        return np.zeros(0, dtype=bool)
    decided: np.ndarray = scorer.predict_proba_frame(frame[list(FEATURE_NAMES)]) >= scorer.threshold
    return decided


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


@dataclass(frozen=True)
class Side:
    """One set's figures, reported side by side whichever set decides."""

    n: int
    both_classes: bool
    candidate_f1: float | None
    champion_f1: float | None

    def figures(self) -> dict[str, Any]:
        return {"n": self.n, "candidate_f1": _r(self.candidate_f1), "champion_f1": _r(self.champion_f1)}


@dataclass(frozen=True)
class Verdict:
    """The judge's verdict and its evidence."""

    verdict: str
    candidate_md5: str
    champion_md5: str | None
    basis: str
    sides: dict[str, Side]
    params: PromoteParams
    gain: float | None = None
    lower_bound: float | None = None
    share_at_or_below: float | None = None
    """As :attr:`Weighed.share_at_or_below`: a one-sided bootstrap p-value of "no gain beyond ``min_gain``"."""
    discordant: dict[str, int] | None = None

    @property
    def recommend(self) -> bool:
        """Whether the candidate should be deployed: the first model, or better beyond noise."""
        return self.verdict in RECOMMENDED

    def figures(self) -> dict[str, Any]:
        """Everything the verdict rests on (``metrics.write`` splits off the headline)."""
        p = self.params
        return {
            "verdict": self.verdict,
            "recommend": self.recommend,
            "gain": _r(self.gain),
            "lower_bound": _r(self.lower_bound),
            "candidate_md5": self.candidate_md5,
            "champion_md5": self.champion_md5,
            "basis": self.basis,
            "n": self.sides[self.basis].n,
            "confidence": p.confidence,
            "min_gain": p.min_gain,
            "min_holdout": p.min_holdout,
            "resamples": p.resamples,
            "seed": p.seed,
            "share_at_or_below_min_gain": _r(self.share_at_or_below),
            "discordant": self.discordant,
            **{name: side.figures() for name, side in self.sides.items()},
        }

    def message(self) -> str:
        """One line for a person: the verdict and what it rests on."""
        side = self.sides[self.basis]
        where = f"on {_BASIS_WORDS[self.basis]} ({side.n} rows"
        holdout = self.sides[BASIS_HOLDOUT]
        if self.basis == BASIS_TEST:
            where += f"; the feedback hold-out has {holdout.n}, needs {self.params.min_holdout} with both classes"
        where += ")"
        if self.verdict == NO_CHAMPION:
            return (
                f"{self.verdict}: no champion (promote.champion is null), so the candidate is recommended as the "
                f"first model: f1={side.candidate_f1:.3f} {where}"
            )
        if self.verdict == SAME_MODEL:
            return (
                f"{self.verdict}: the candidate is the champion ({self.candidate_md5}), "
                f"f1={side.candidate_f1:.3f} {where}"
            )
        pct = f"{Decimal(repr(self.params.confidence)) * 100:f}".rstrip("0").rstrip(".")
        return (
            f"{self.verdict}: candidate f1={side.candidate_f1:.3f} vs champion {side.champion_f1:.3f} {where}: "
            f"gain {self.gain:+.3f}, lower bound {self.lower_bound:+.3f} at {pct} % "
            f"(needs > {self.params.min_gain:.3f})"
        )


def _side(y: np.ndarray, candidate: np.ndarray, champion: np.ndarray, has_champion: bool) -> Side:
    if not (y.any() and not y.all()):
        return Side(len(y), False, None, None)
    f1_candidate, f1_champion = f1_pair(cell_counts(cells(y, candidate, champion)))
    return Side(len(y), True, float(f1_candidate), float(f1_champion) if has_champion else None)


def judge(
    candidate: Scorer,
    champion: Scorer | None,
    holdout: pd.DataFrame,
    test: pd.DataFrame,
    params: PromoteParams,
    candidate_md5: str,
) -> Verdict:
    """Judge ``candidate`` against ``champion`` (pure: the same inputs give the same verdict, bit for bit).

    Args:
        candidate: the model just built.
        champion: the model ``params.champion`` names; None when it is null or is the
            candidate itself (then it need not be loaded).
        holdout: the feedback hold-out's validated rows (features and label).
        test: the fixed test set.
        params: the ``promote`` section.
        candidate_md5: the candidate file's md5.

    Raises:
        DataError: neither set has rows of both classes, so no F1 can be compared.
    """
    same = params.champion == candidate_md5
    if params.champion is not None and not same and champion is None:
        raise ValueError("a pinned champion other than the candidate must be given")
    y: dict[str, np.ndarray] = {}
    cand: dict[str, np.ndarray] = {}
    champ: dict[str, np.ndarray] = {}
    sides: dict[str, Side] = {}
    for name, frame in ((BASIS_HOLDOUT, holdout), (BASIS_TEST, test)):
        y[name] = frame[LABEL].to_numpy().astype(bool)
        cand[name] = decisions(candidate, frame)
        # The champion decides only when it is another model; the candidate stands in otherwise.
        champ[name] = decisions(champion, frame) if champion is not None and not same else cand[name]
        sides[name] = _side(y[name], cand[name], champ[name], params.champion is not None)
    holdout_decides = sides[BASIS_HOLDOUT].both_classes and sides[BASIS_HOLDOUT].n >= params.min_holdout
    basis = BASIS_HOLDOUT if holdout_decides else BASIS_TEST
    if not sides[basis].both_classes:
        raise DataError(
            f"cannot judge: the test set ({sides[BASIS_TEST].n} rows) has one class only, and the feedback "
            f"hold-out ({sides[BASIS_HOLDOUT].n} rows) too few rows of both (promote.min_holdout={params.min_holdout})"
        )

    def verdict(name: str, **evidence: Any) -> Verdict:
        return Verdict(name, candidate_md5, params.champion, basis, sides, params, **evidence)

    if params.champion is None:
        return verdict(NO_CHAMPION)
    if same:
        return verdict(SAME_MODEL, gain=0.0, discordant={"candidate_right": 0, "champion_right": 0})
    w = weigh(cells(y[basis], cand[basis], champ[basis]), params)
    return verdict(
        PROMOTE if w.promote else KEEP,
        gain=w.gain,
        lower_bound=w.lower_bound,
        share_at_or_below=w.share_at_or_below,
        discordant=w.discordant,
    )
