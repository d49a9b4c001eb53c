"""Parse one prediction-log line into a record the drift statistics can use.

The log format is the service's: one JSON object per line with the five features under
``"features"`` and the model's ``churn_probability``. The checks derive from
:mod:`churnops.schema`, so a line the service could not have produced for a valid
request (an unknown category, a value out of range, a missing field) is rejected
here with a stable reason instead of distorting the statistics. Extra keys are ignored:
the log may carry more (``ts``, ``model_version``, ``source``...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from churnops.schema import FEATURES, CategoricalFeature

REASONS = ("binary", "invalid_json", "not_an_object", "no_features", "schema", "bad_probability")
"""Reasons :func:`parse_line` gives; the tail reader adds ``partial``, ``empty`` and ``too_long``."""

Record = tuple[Any, ...]
"""The five feature values in :data:`churnops.schema.FEATURES` order, then the probability."""


def _numeric_check(low: float, high: float, integer: bool) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        # bool is an int subclass in Python; JSON true is not a number of complaints.
        if type(v) is not int and type(v) is not float:
            return False
        if not (low <= v <= high):  # also rejects NaN
            return False
        return not integer or float(v).is_integer()

    return ok


def _categorical_check(categories: tuple[str, ...]) -> Callable[[Any], bool]:
    allowed = frozenset(categories)
    return lambda v: type(v) is str and v in allowed


_CHECKS: tuple[tuple[str, Callable[[Any], bool]], ...] = tuple(
    (
        f.name,
        _categorical_check(f.categories)
        if isinstance(f, CategoricalFeature)
        else _numeric_check(f.low, f.high, f.integer),
    )
    for f in FEATURES
)


def _json_failure(line: bytes) -> str:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    return "binary" if "\x00" in text else "invalid_json"


def parse_line(line: bytes) -> tuple[Record, None] | tuple[None, str]:
    """Parse and check one log line.

    Returns:
        ``(record, None)`` for a usable line, else ``(None, reason)`` with a reason from
        :data:`REASONS`.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, _json_failure(line)
    if type(obj) is not dict:
        return None, "not_an_object"
    features = obj.get("features")
    if type(features) is not dict:
        return None, "no_features"
    values = []
    for name, ok in _CHECKS:
        v = features.get(name)
        if not ok(v):
            return None, "schema"
        values.append(v)
    p = obj.get("churn_probability")
    if (type(p) is not float and type(p) is not int) or not (0.0 <= p <= 1.0) or math.isnan(p):
        return None, "bad_probability"
    values.append(float(p))
    return tuple(values), None
