"""prepare: every row validated, rejected rows quarantined with a reason, a stratified split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnops.core.errors import DataError
from churnops.core.schema import CATEGORICAL, LABEL, NUMERIC
from churnops.core.trainstats import PsiBins
from churnops.pipeline.prepare import check_rejected_fraction, decile_bins, split, training_stats, validate
from tests.utils.factories import clean_customers

GOOD = {"tenure_months": 12, "num_complaints": 1, "avg_session_minutes": 20.5, "plan": "basic", "region": "north"}


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD, LABEL: 1, **r} for r in rows])


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"tenure_months": None}, "tenure_months: missing"),
        ({"tenure_months": 241}, "tenure_months: outside 0..240"),
        ({"tenure_months": -1}, "tenure_months: outside 0..240"),
        ({"tenure_months": 3.5}, "tenure_months: not a whole number"),
        ({"num_complaints": 101}, "num_complaints: outside 0..100"),
        ({"avg_session_minutes": 1441.0}, "avg_session_minutes: outside 0..1440"),
        ({"plan": "gold"}, "plan: unknown category"),
        ({"plan": "Basic"}, "plan: unknown category"),  # categories are case-sensitive
        ({"plan": None}, "plan: missing"),
        ({"region": "central"}, "region: unknown category"),
        ({LABEL: 2}, "churn: outside 0..1"),
        ({LABEL: None}, "churn: missing"),
    ],
)
def test_each_violation_is_quarantined_with_its_reason(row: dict, reason: str) -> None:
    v = validate(frame({}, row, {}))
    assert len(v.clean) == 2
    assert v.quarantine["reason"].tolist() == [reason]
    assert v.reasons == {reason: 1}


def test_wrong_types_in_a_text_column_are_rejected_not_crashed() -> None:
    """A hand-made file may hold text where numbers belong."""
    raw = frame({}, {}).astype({"tenure_months": object, "plan": object})
    raw.loc[0, "tenure_months"] = "twelve"
    raw.loc[1, "plan"] = 3
    v = validate(raw)
    assert sorted(v.quarantine["reason"]) == ["plan: unknown category", "tenure_months: not a number"]


def test_clean_rows_get_tight_schema_dtypes_and_quarantine_keeps_originals() -> None:
    v = validate(frame({}, {"plan": "gold"}))
    for f in NUMERIC:
        assert v.clean[f.name].dtype == np.dtype(f.dtype)
    for f in CATEGORICAL:
        assert list(v.clean[f.name].cat.categories) == list(f.categories)
    assert v.quarantine.loc[0, "plan"] == "gold"


def test_a_missing_column_fails_the_whole_file() -> None:
    with pytest.raises(DataError, match=r"raw.parquet: missing column\(s\) \['region'\]"):
        validate(frame({}).drop(columns=["region"]), source="raw.parquet")


def test_too_many_rejected_rows_fail_with_the_limit_and_reasons() -> None:
    v = validate(frame({}, {"plan": "gold"}, {"plan": "gold"}, {}))
    check_rejected_fraction(v, 0.5, "raw")  # exactly at the limit passes
    with pytest.raises(DataError) as err:
        check_rejected_fraction(v, 0.4, "raw")
    msg = str(err.value)
    assert "50.00% of rows rejected (2 of 4)" in msg
    assert "prepare.max_rejected_fraction=40.00%" in msg
    assert "plan: unknown category (2)" in msg


def test_split_is_stratified_seeded_and_disjoint() -> None:
    clean = clean_customers(4000).reset_index(drop=True)
    clean["row"] = np.arange(len(clean))
    train, test = split(clean, 0.25, seed=7)
    again, _ = split(clean, 0.25, seed=7)
    other, _ = split(clean, 0.25, seed=8)
    assert len(train) + len(test) == len(clean)
    assert not set(train.row) & set(test.row)
    assert train.row.tolist() == again.row.tolist()
    assert train.row.tolist() != other.row.tolist()
    assert len(test) == pytest.approx(1000, abs=2)
    assert test[LABEL].mean() == pytest.approx(clean[LABEL].mean(), abs=0.002)


def test_split_refuses_to_leave_an_empty_part() -> None:
    with pytest.raises(DataError, match=r"prepare\.test_fraction=0\.1 leaves an empty part"):
        split(clean_customers(3).head(1), 0.1, seed=1)


def test_training_stats_describe_the_training_set() -> None:
    train = clean_customers(3000)
    stats = training_stats(train)
    assert stats.n == len(train)
    assert stats.churn_rate == pytest.approx(train[LABEL].mean())
    tenure = stats.numeric["tenure_months"]
    assert tenure.mean == pytest.approx(train.tenure_months.mean())
    assert tenure.std == pytest.approx(train.tenure_months.std())
    assert (tenure.min, tenure.max) == (train.tenure_months.min(), train.tenure_months.max())
    assert tenure.quantiles["0.5"] == pytest.approx(train.tenure_months.median())
    assert sum(tenure.psi_bins.counts) == len(train)
    plan = stats.categorical["plan"]
    assert list(plan.counts) == ["basic", "standard", "premium"]
    assert plan.counts["premium"] == (train.plan == "premium").sum()
    assert sum(plan.frequencies.values()) == pytest.approx(1.0)


def test_decile_bins_count_the_training_data_exactly_even_with_ties() -> None:
    rng = np.random.default_rng(0)
    for x in (rng.normal(size=5000), rng.poisson(1.4, size=5000).astype(float), np.full(10, 3.0)):
        b = decile_bins(x)
        cuts, counts = np.array(b.cuts), np.array(b.counts)
        assert len(counts) == len(cuts) + 1 <= 10
        assert np.all(np.diff(cuts) > 0)
        assert (counts > 0).all(), "no empty training bin, whatever the ties"
        expected = np.bincount(np.searchsorted(cuts, x, side="right"), minlength=len(counts))
        assert counts.tolist() == expected.tolist()
    assert decile_bins(np.full(10, 3.0)) == PsiBins(cuts=(), counts=(10,))
