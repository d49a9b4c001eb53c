"""Classify one prediction-log line for the monitor: what it says about traffic and data quality.

The log holds two record kinds (the format is the service's, see ``docs/service.md``):

- a prediction: ``{"features": {...}, "churn_probability": p, "ts": ..., ...}``;
- a rejection (``"kind": "rejected"``): a request the API refused with 422, with up to 20
  ``errors`` entries ``{"field", "item", "reason", "value"}``.

Every line of the window is classified, none is skipped: a line is *valid* when it is a
prediction whose five features all pass the schema (:mod:`churnops.schema`). Each
feature value is checked on its own, so one bad value does not hide the record's other
features from the drift rules, and a missing or bad ``churn_probability`` only keeps the
record out of the prediction rule. Per-feature reasons are stable names
(:data:`FEATURE_REASONS`); line reasons are :data:`LINE_REASONS`. Extra keys are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from churnops.schema import FEATURES, CategoricalFeature

LINE_REASONS = (
    "binary",
    "invalid_json",
    "not_an_object",
    "no_features",
    "schema",
    "rejected",
    "unknown_kind",
    "partial",
    "too_long",
    "empty",
)
"""Why a line is invalid. ``schema``: a prediction with at least one invalid feature value;
``rejected``: a request the API refused; ``partial``, ``too_long`` and ``empty`` (blank lines beyond the
allowance) come from the tail reader."""

FEATURE_REASONS = ("missing", "null", "wrong_type", "out_of_range", "not_integer", "unseen_category")
"""Why one feature value is invalid (checked against :mod:`churnops.schema`)."""

REJECTION_KIND = "rejected"
"""The ``kind`` of a rejection record (predictions carry no ``kind``)."""

_MISSING = object()


def _numeric_check(low: float, high: float, integer: bool) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        # bool is an int subclass in Python; JSON true is not a number of complaints.
        t = type(v)
        if t is not int and t is not float:
            return "null" if v is None else "wrong_type"
        if not (low <= v <= high):  # also rejects NaN
            return "out_of_range"
        if integer and t is float and not v.is_integer():
            return "not_integer"
        return None

    return check


def _categorical_check(categories: tuple[str, ...]) -> Callable[[Any], str | None]:
    allowed = frozenset(categories)

    def check(v: Any) -> str | None:
        if type(v) is str:
            return None if v in allowed else "unseen_category"
        return "null" if v is None else "wrong_type"

    return check


CHECKS: dict[str, Callable[[Any], str | None]] = {
    f.name: _categorical_check(f.categories)
    if isinstance(f, CategoricalFeature)
    else _numeric_check(f.low, f.high, f.integer)
    for f in FEATURES
}
"""Per feature: ``check(value) -> None`` when valid, else a reason from :data:`FEATURE_REASONS`."""

Problem = tuple[str, str, Any]
"""``(feature, reason, value)`` for one invalid feature value (``value`` is None when missing)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One classified line.

    ``values`` holds the five feature values in :data:`churnops.schema.FEATURES` order,
    ``None`` where a value is invalid (predictions only). ``reason`` is None for a valid
    line, else a reason from :data:`LINE_REASONS`. ``probability`` is the valid
    ``churn_probability`` or None. ``problems`` lists the invalid feature values;
    ``rejected_reasons`` the service's reasons of a rejection record.
    """

    reason: str | None
    values: tuple[Any, ...] | None = None
    probability: float | None = None
    problems: tuple[Problem, ...] = ()
    rejected_reasons: tuple[str, ...] = ()
    ts: Any = None


def _json_failure(line: bytes) -> str:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    return "binary" if "\x00" in text else "invalid_json"


def _probability(p: Any) -> float | None:
    if (type(p) is not float and type(p) is not int) or not (0.0 <= p <= 1.0) or math.isnan(p):
        return None
    return float(p)


def _rejection(obj: dict) -> Entry:
    problems: list[Problem] = []
    reasons: list[str] = []
    errors = obj.get("errors")
    for e in errors if type(errors) is list else ():
        if type(e) is not dict:
            continue
        reason = e.get("reason")
        reason = reason[:64] if type(reason) is str and reason else "unknown"
        reasons.append(reason)
        field = e.get("field")
        check = CHECKS.get(field) if type(field) is str else None
        if check is None:
            continue  # not about one feature's value (a missing body, an unknown key...)
        value = e.get("value", _MISSING)
        why = "missing" if value is _MISSING else check(value)
        # The service refused the value, so it is invalid even if our check passes it
        # (a value the writer truncated): then its own reason names the problem.
        problems.append((field, why or reason, None if value is _MISSING else value))
    return Entry(reason="rejected", problems=tuple(problems), rejected_reasons=tuple(reasons), ts=obj.get("ts"))


def parse_line(line: bytes) -> Entry:
    """Classify one log line (without its newline)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Entry(reason=_json_failure(line))
    if type(obj) is not dict:
        return Entry(reason="not_an_object")
    kind = obj.get("kind")
    if kind is not None:
        return _rejection(obj) if kind == REJECTION_KIND else Entry(reason="unknown_kind", ts=obj.get("ts"))
    features = obj.get("features")
    if type(features) is not dict:
        return Entry(reason="no_features", ts=obj.get("ts"))
    values: list[Any] = []
    problems: list[Problem] = []
    for name, check in CHECKS.items():
        v = features.get(name, _MISSING)
        why = "missing" if v is _MISSING else check(v)
        if why is None:
            values.append(v)
        else:
            values.append(None)
            problems.append((name, why, None if v is _MISSING else v))
    return Entry(
        reason="schema" if problems else None,
        values=tuple(values),
        probability=_probability(obj.get("churn_probability")),
        problems=tuple(problems),
        ts=obj.get("ts"),
    )
