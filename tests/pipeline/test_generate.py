"""The generated data's contract: schema, determinism, realistic dirt, a learnable signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnops.core.schema import CATEGORICAL, FEATURE_NAMES, LABEL, NUMERIC
from churnops.pipeline.generate import CHUNK_ROWS, RAW_CATEGORIES, generate_chunks, traffic_records
from churnops.pipeline.prepare import validate
from tests.utils.factories import raw_customers


def test_columns_and_raw_dtypes() -> None:
    raw = raw_customers(500)
    assert list(raw.columns) == [*FEATURE_NAMES, LABEL]
    for f in NUMERIC:
        assert raw[f.name].dtype == np.float32
    for f in CATEGORICAL:
        assert list(raw[f.name].cat.categories) == list(RAW_CATEGORIES[f.name])
    assert raw[LABEL].dtype == np.int8


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a, b, c = raw_customers(2000, seed=3), raw_customers(2000, seed=3), raw_customers(2000, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_rows_do_not_depend_on_how_many_are_asked_for() -> None:
    """Chunks are seeded by index, so a longer table starts with the shorter one."""
    rows = CHUNK_ROWS + 10
    longer = pd.concat(list(generate_chunks(5, rows, 0.01)), ignore_index=True)
    shorter = pd.concat(list(generate_chunks(5, CHUNK_ROWS, 0.01)), ignore_index=True)
    assert len(longer) == rows
    pd.testing.assert_frame_equal(longer.iloc[:CHUNK_ROWS], shorter)


def test_clean_data_is_entirely_valid_and_in_range() -> None:
    v = validate(raw_customers(5000, dirty_fraction=0.0))
    assert len(v.quarantine) == 0
    for f in NUMERIC:
        col = v.clean[f.name]
        assert col.min() >= f.low and col.max() <= f.high


def test_dirty_fraction_injects_every_kind_of_damage() -> None:
    v = validate(raw_customers(20_000, dirty_fraction=0.05))
    assert v.rejected_fraction == pytest.approx(0.05, abs=0.01)
    problems = {reason.split(": ", 1)[1] for reason in v.reasons}
    assert {"missing", "unknown category", "not a whole number"} <= problems
    assert any(p.startswith("outside") for p in problems)


def test_churn_signal_has_the_documented_directions() -> None:
    clean = validate(raw_customers(40_000)).clean
    y = clean[LABEL]
    assert 0.3 < y.mean() < 0.55
    short, long_ = clean.tenure_months < 12, clean.tenure_months > 48
    assert y[short].mean() > y[long_].mean() + 0.2
    assert y[clean.num_complaints >= 3].mean() > y[clean.num_complaints == 0].mean() + 0.2
    assert y[clean.plan == "basic"].mean() > y[clean.plan == "premium"].mean() + 0.2
    assert y[clean.avg_session_minutes < 10].mean() > y[clean.avg_session_minutes > 40].mean()
    by_region = y.groupby(clean.region, observed=True).mean()
    assert by_region["south"] > by_region["west"]  # the regional effect


def test_traffic_records_follow_the_log_format_and_the_schema() -> None:
    records = list(traffic_records(seed=1, rows=300))
    assert len(records) == 300
    for r in records[:50]:
        assert r["source"] == "simulated"
        assert set(r["features"]) == set(FEATURE_NAMES)
        assert 0.0 <= r["churn_probability"] <= 1.0
    frame = pd.DataFrame([r["features"] for r in records])
    frame[LABEL] = 0
    assert len(validate(frame).quarantine) == 0


def test_traffic_shift_and_mix_move_the_distribution() -> None:
    def features(**kwargs: object) -> pd.DataFrame:
        return pd.DataFrame([r["features"] for r in traffic_records(seed=2, rows=4000, **kwargs)])

    base = features()
    shifted = features(shift={"tenure_months": 12})
    mixed = features(mix={"plan": {"basic": 1, "standard": 1, "premium": 0}})
    # Same seed: the shift moves every customer by 12 months (a few are clipped at 240).
    assert shifted.tenure_months.mean() == pytest.approx(base.tenure_months.mean() + 12, abs=0.2)
    pd.testing.assert_series_equal(shifted.plan, base.plan)
    assert (base.plan == "premium").mean() > 0.1
    assert (mixed.plan == "premium").sum() == 0
