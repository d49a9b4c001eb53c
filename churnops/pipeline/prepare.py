"""Validate raw customers against the schema, split them, and describe the training set.

The core is :func:`validate` (every row checked, rejected rows kept with a reason),
:func:`split` (stratified and seeded) and :func:`training_stats` (what the drift
monitor compares recent traffic with). All are vectorised: 5M rows take seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnops.core.errors import DataError
from churnops.core.schema import CATEGORICAL, FEATURE_NAMES, LABEL, NUMERIC, NumericFeature
from churnops.core.trainstats import CategoricalStats, NumericStats, PsiBins, TrainStats, bin_index

DECILES = tuple(round(0.1 * i, 1) for i in range(1, 10))
QUANTILES = (0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99)
REQUIRED_COLUMNS = (*FEATURE_NAMES, LABEL)


@dataclass(frozen=True)
class Validated:
    """The outcome of :func:`validate`."""

    clean: pd.DataFrame
    """Valid rows in tight schema dtypes (int16/float32, categoricals over the schema's categories)."""
    quarantine: pd.DataFrame
    """Rejected rows as they arrived (values as text), with a ``reason`` column."""
    reasons: dict[str, int]
    """Rejected-row count per ``"<column>: <problem>"``."""

    @property
    def rows_in(self) -> int:
        return len(self.clean) + len(self.quarantine)

    @property
    def rejected_fraction(self) -> float:
        return len(self.quarantine) / self.rows_in if self.rows_in else 0.0


def _numeric_checks(col: pd.Series, feature: NumericFeature) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Return the column as float64 and the (problem, mask) pairs, most basic first."""
    if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
        values = pd.to_numeric(col.astype("string"), errors="coerce").to_numpy(np.float64, na_value=np.nan)
        not_number = np.isnan(values) & col.notna().to_numpy()
    else:
        values = col.to_numpy(np.float64, na_value=np.nan)
        not_number = np.zeros(len(col), dtype=bool)
    missing = np.isnan(values) & ~not_number
    with np.errstate(invalid="ignore"):
        out_of_range = ~np.isnan(values) & ((values < feature.low) | (values > feature.high))
        checks = [("not a number", not_number), ("missing", missing)]
        if feature.integer:
            checks.append(("not a whole number", ~np.isnan(values) & (values != np.floor(values))))
    checks.append((f"outside {feature.low:g}..{feature.high:g}", out_of_range))
    return values, checks


_LABEL_RULE = NumericFeature(LABEL, 0, 1, integer=True, dtype="int8", description="Churned (1) or not (0)")
"""The label's contract, checked like a whole-number feature."""


def _checked_column(col: pd.Series, feature: NumericFeature, record: Callable[[str, np.ndarray], None]) -> np.ndarray:
    """Record ``feature``'s problems (``"<name>: <problem>"``) and return the column as float64."""
    values, checks = _numeric_checks(col, feature)
    for problem, mask in checks:
        record(f"{feature.name}: {problem}", mask)
    return values


_MISSING = -1
_UNKNOWN = -2


def _category_codes(col: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Codes into ``categories``; ``_MISSING`` for nulls, ``_UNKNOWN`` for anything else.

    A categorical column is mapped through its (few) categories rather than its (many)
    values: 5M rows cost one small lookup instead of 5M string comparisons.
    """
    index = {c: i for i, c in enumerate(categories)}
    if isinstance(col.dtype, pd.CategoricalDtype):
        lookup = np.array(
            [index.get(c, _UNKNOWN) if isinstance(c, str) else _UNKNOWN for c in col.cat.categories] + [_MISSING],
            dtype=np.int8,
        )
        result: np.ndarray = lookup[col.cat.codes.to_numpy()]  # code -1 (null) picks the trailing _MISSING
        return result
    text = col.astype("string")
    codes = pd.Index(list(categories)).get_indexer(text).astype(np.int8)
    codes[codes < 0] = _UNKNOWN
    codes[text.isna().to_numpy()] = _MISSING
    result = np.asarray(codes, dtype=np.int8)
    return result


def validate(raw: pd.DataFrame, source: str = "data") -> Validated:
    """Check every row of ``raw`` against the schema and the label contract.

    Args:
        raw: the raw table; extra columns are ignored.
        source: the file name, for error messages.

    Returns:
        The clean rows, the quarantined rows with reasons, and counts per reason.

    Raises:
        DataError: a required column is missing (no row can be valid then).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}")
    n = len(raw)
    first_fail = np.full(n, -1, dtype=np.int16)
    labels: list[str] = []

    def record(label: str, mask: np.ndarray) -> None:
        hit = mask & (first_fail < 0)
        if hit.any():
            first_fail[hit] = len(labels)
        labels.append(label)

    # The label is checked last, as one more whole-number column: a row's reason names
    # its first bad feature before its label.
    numeric_cols: dict[str, np.ndarray] = {}
    category_codes: dict[str, np.ndarray] = {}
    for f in NUMERIC:
        numeric_cols[f.name] = _checked_column(raw[f.name], f, record)
    for cf in CATEGORICAL:
        codes = _category_codes(raw[cf.name], cf.categories)
        record(f"{cf.name}: missing", codes == _MISSING)
        record(f"{cf.name}: unknown category", codes == _UNKNOWN)
        category_codes[cf.name] = codes
    numeric_cols[LABEL] = _checked_column(raw[LABEL], _LABEL_RULE, record)

    ok = first_fail < 0
    clean = pd.DataFrame(
        {
            **{f.name: numeric_cols[f.name][ok].astype(f.dtype) for f in NUMERIC},
            **{
                f.name: pd.Categorical.from_codes(category_codes[f.name][ok], categories=list(f.categories))
                for f in CATEGORICAL
            },
            LABEL: numeric_cols[LABEL][ok].astype(_LABEL_RULE.dtype),
        }
    )
    bad = ~ok
    quarantine = raw.loc[bad, list(REQUIRED_COLUMNS)].astype("string").reset_index(drop=True)
    codes = first_fail[bad]
    quarantine["reason"] = pd.array([labels[c] for c in codes], dtype="string")
    counts = np.bincount(codes, minlength=len(labels)) if codes.size else np.zeros(len(labels), int)
    reasons = {labels[i]: int(c) for i, c in enumerate(counts) if c}
    return Validated(clean=clean, quarantine=quarantine, reasons=reasons)


def report(v: Validated, train_rows: int, test_rows: int) -> dict[str, object]:
    """Prepare's figures: row counts, the rejected fraction and the rejected rows per reason.

    :func:`churnops.core.metrics.split` then keeps the headline for ``metrics/prepare.json``.
    """
    return {
        "rows_in": v.rows_in,
        "rows_rejected": len(v.quarantine),
        "rejected_fraction": round(v.rejected_fraction, 6),
        "rejected_by_reason": v.reasons,
        "train_rows": train_rows,
        "test_rows": test_rows,
    }


def check_rejected_fraction(v: Validated, max_fraction: float, source: str) -> None:
    """Fail when too many rows were rejected: the data, not the model, is then the problem.

    Raises:
        DataError: naming the fraction, the limit and the commonest reasons.
    """
    if v.rows_in == 0:
        raise DataError(f"{source}: no rows")
    if v.rejected_fraction > max_fraction:
        top = sorted(v.reasons.items(), key=lambda kv: -kv[1])[:3]
        why = ", ".join(f"{k} ({c})" for k, c in top)
        raise DataError(
            f"{source}: {v.rejected_fraction:.2%} of rows rejected ({len(v.quarantine)} of "
            f"{v.rows_in}), above prepare.max_rejected_fraction={max_fraction:.2%}; commonest: {why}"
        )


def split(
    clean: pd.DataFrame, test_fraction: float, seed: int, what: str = "prepare.test_fraction"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified, seeded split into (rest, held-out); both parts keep the input's row order.

    Used for prepare's train/test split and for train's validation carve. ``what`` names
    the parameter in the error raised when a part would be empty.
    """
    rng = np.random.default_rng(seed)
    y = clean[LABEL].to_numpy()
    is_test = np.zeros(len(clean), dtype=bool)
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        n_test = round(len(idx) * test_fraction)
        is_test[rng.choice(idx, size=n_test, replace=False)] = True
    train, test = clean[~is_test].reset_index(drop=True), clean[is_test].reset_index(drop=True)
    if len(train) == 0 or len(test) == 0:
        raise DataError(f"splitting {len(clean)} rows with {what}={test_fraction} leaves an empty part")
    return train, test


def _clean_float(x: float) -> float:
    # JSON cannot hold NaN; a constant column has std 0, which is a real value.
    return float(x) if np.isfinite(x) else 0.0


def decile_bins(x: np.ndarray) -> PsiBins:
    """Training-decile bins for PSI, with the exact training count of every bin.

    Cuts are deciles taken as data values (``inverted_cdf``), de-duplicated, and above the
    minimum, so every bin holds training rows: an integer feature with many ties
    (``num_complaints``) gets fewer, but never empty, bins, and its shares are counts, not
    interpolations. Bins follow :func:`churnops.core.trainstats.bin_index`.

    ``x`` is a non-empty training column in its own dtype, and each cut is stored as the
    decimal that value is (a float32 10.8 is stored as 10.8, not as its float64 widening
    10.800000190734863), so a logged 10.8 falls in the same bin as the training 10.8 did.
    """
    cuts = np.unique(np.quantile(x, DECILES, method="inverted_cdf"))
    cuts = cuts[cuts > x.min()]
    counts = np.bincount(bin_index(cuts, x), minlength=cuts.size + 1)
    # str() of a numpy scalar is the shortest decimal that round-trips in its own dtype.
    exact = tuple(float(str(c)) if isinstance(c, np.floating) else float(c) for c in cuts)
    return PsiBins(cuts=exact, counts=tuple(int(c) for c in counts))


def _numeric_stats(column: pd.Series) -> NumericStats:
    x = column.to_numpy(np.float64)
    return NumericStats(
        mean=_clean_float(x.mean()),
        std=_clean_float(x.std(ddof=1)) if len(x) > 1 else 0.0,
        min=float(x.min()),
        max=float(x.max()),
        quantiles={f"{q:g}": float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)},
        psi_bins=decile_bins(column.to_numpy()),
    )


def _categorical_stats(column: pd.Series, categories: tuple[str, ...]) -> CategoricalStats:
    per_category = column.value_counts(sort=False).reindex(list(categories), fill_value=0)
    counts = {str(c): int(v) for c, v in per_category.items()}
    total = sum(counts.values())
    return CategoricalStats(counts=counts, frequencies={c: (v / total if total else 0.0) for c, v in counts.items()})


def training_stats(train: pd.DataFrame) -> TrainStats:
    """Describe the training set for the drift monitor (:class:`churnops.core.trainstats.TrainStats`).

    Per numeric feature: mean, sample std (ddof=1), min, max, quantiles and the PSI bins
    (:func:`decile_bins`); per categorical feature: the count and share of each category.
    """
    return TrainStats(
        n=len(train),
        churn_rate=float(train[LABEL].mean()),
        numeric={f.name: _numeric_stats(train[f.name]) for f in NUMERIC},
        categorical={cf.name: _categorical_stats(train[cf.name], cf.categories) for cf in CATEGORICAL},
    )
