"""One log line, classified: each feature value checked on its own, with a stable reason."""

from __future__ import annotations

import json

import pytest

from churnops.core import logformat
from churnops.core.schema import FEATURE_NAMES
from churnops.monitor.records import FEATURE_REASONS, LINE_REASONS, parse_line

GOOD = {"tenure_months": 12, "num_complaints": 1, "avg_session_minutes": 20.5, "plan": "basic", "region": "east"}


def line(features: dict | None = None, **extra) -> bytes:
    body = {"ts": "2025-01-01T00:00:00.000000Z", "features": features if features is not None else GOOD}
    body.update({"churn_probability": 0.25, **extra})
    return json.dumps(body).encode()


def test_a_valid_prediction() -> None:
    e = parse_line(line())
    assert e.reason is None and e.problems == () and e.probability == 0.25
    assert e.values == tuple(GOOD[n] for n in FEATURE_NAMES) and e.ts == "2025-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    ("feature", "value", "reason"),
    [
        ("tenure_months", None, "null"),
        ("tenure_months", "12", "wrong_type"),
        ("num_complaints", True, "wrong_type"),
        ("tenure_months", -1, "out_of_range"),
        ("avg_session_minutes", 1e9, "out_of_range"),
        ("num_complaints", 1.5, "not_integer"),
        ("plan", "enterprise", "unseen_category"),
        ("plan", "Basic", "unseen_category"),
        ("region", 3, "wrong_type"),
    ],
)
def test_each_bad_value_has_its_reason_and_the_rest_stays_usable(feature: str, value, reason: str) -> None:
    e = parse_line(line({**GOOD, feature: value}))
    assert e.reason == "schema" and e.problems == ((feature, reason, value),)
    assert reason in FEATURE_REASONS
    i = FEATURE_NAMES.index(feature)
    assert e.values[i] is None
    assert [v for j, v in enumerate(e.values) if j != i] == [GOOD[n] for n in FEATURE_NAMES if n != feature]


def test_a_missing_feature_and_a_missing_probability() -> None:
    features = {k: v for k, v in GOOD.items() if k != "region"}
    e = parse_line(json.dumps({"features": features}).encode())
    assert e.problems == (("region", "missing", None),) and e.probability is None


@pytest.mark.parametrize("p", [None, 1.5, -0.1, "0.3", True])
def test_a_bad_probability_keeps_the_line_valid_for_its_features(p) -> None:
    e = parse_line(line(churn_probability=p))
    assert e.reason is None and e.probability is None and e.values is not None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\xff", "binary"),
        (b"{nope", "invalid_json"),
        (b"[1]", "not_an_object"),
        (b'{"ts": "x"}', "no_features"),
        (b'{"kind": "audit"}', "unknown_kind"),
    ],
)
def test_lines_that_are_no_record(raw: bytes, reason: str) -> None:
    e = parse_line(raw)
    assert e.reason == reason and reason in LINE_REASONS and e.values is None


def test_a_rejection_names_the_refused_values() -> None:
    errors = [
        logformat.RejectedValue("plan", 0, logformat.UNKNOWN_CATEGORY, "enterprise", "items.0.plan"),
        logformat.RejectedValue("tenure_months", 1, logformat.WRONG_TYPE, None, "items.1.tenure_months"),
        logformat.RejectedValue("region", 2, logformat.MISSING, None, "items.2.region"),
        logformat.RejectedValue("num_complaints", 3, logformat.OUT_OF_RANGE, 500, "items.3.num_complaints"),
        logformat.RejectedValue(None, None, logformat.UNKNOWN_KEY, 1, "items.4.colour"),
    ]
    raw = logformat.encode(logformat.RejectionEntry(1_700_000_000.5, "r1", "/predict/batch", errors, n_errors=5))
    e = parse_line(raw.rstrip(b"\n"))
    assert e.reason == "rejected" and e.values is None and e.ts == "2023-11-14T22:13:20.500000Z"
    assert e.problems == (
        ("plan", "unseen_category", "enterprise"),
        ("tenure_months", "null", None),
        ("region", "missing", None),
        ("num_complaints", "out_of_range", 500),
    )
    assert e.rejected_reasons == (
        logformat.UNKNOWN_CATEGORY,
        logformat.WRONG_TYPE,
        logformat.MISSING,
        logformat.OUT_OF_RANGE,
        logformat.UNKNOWN_KEY,
    )
