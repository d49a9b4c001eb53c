"""The feature schema: the single source of truth for names, types, ranges and categories.

``generate``, ``prepare``'s validation, the model's preprocessing, the API's request
model and the drift monitor all derive from :data:`FEATURES`. Adding a feature is a
change to this file (plus the generator's formula for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LABEL = "churn"


@dataclass(frozen=True, slots=True)
class NumericFeature:
    """A numeric feature with an inclusive valid range; ``dtype`` is the tight dtype of validated rows."""

    name: str
    low: float
    high: float
    integer: bool
    dtype: str
    description: str

    kind: Literal["numeric"] = "numeric"


@dataclass(frozen=True, slots=True)
class CategoricalFeature:
    """A categorical feature with a closed set of categories (case-sensitive)."""

    name: str
    categories: tuple[str, ...]
    description: str

    kind: Literal["categorical"] = "categorical"


Feature = NumericFeature | CategoricalFeature

FEATURES: tuple[Feature, ...] = (
    NumericFeature("tenure_months", 0, 240, integer=True, dtype="int16", description="Months as a customer"),
    NumericFeature("num_complaints", 0, 100, integer=True, dtype="int16", description="Complaints filed"),
    NumericFeature(
        "avg_session_minutes",
        0,
        1440,
        integer=False,
        dtype="float32",
        description="Average session length in minutes",
    ),
    CategoricalFeature("plan", ("basic", "standard", "premium"), description="Subscription plan"),
    CategoricalFeature("region", ("north", "south", "east", "west"), description="Sales region"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERIC: tuple[NumericFeature, ...] = tuple(f for f in FEATURES if isinstance(f, NumericFeature))
CATEGORICAL: tuple[CategoricalFeature, ...] = tuple(f for f in FEATURES if isinstance(f, CategoricalFeature))
NUMERIC_NAMES: tuple[str, ...] = tuple(f.name for f in NUMERIC)
CATEGORICAL_NAMES: tuple[str, ...] = tuple(f.name for f in CATEGORICAL)
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
_NUMERIC_BY_NAME = {f.name: f for f in NUMERIC}
_CATEGORICAL_BY_NAME = {f.name: f for f in CATEGORICAL}


def numeric(name: str) -> NumericFeature:
    """The numeric feature ``name``, typed as such; ValueError listing them if it is not one."""
    try:
        return _NUMERIC_BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a numeric feature (one of {list(NUMERIC_NAMES)})") from None


def categorical(name: str) -> CategoricalFeature:
    """The categorical feature ``name``, typed as such; ValueError listing them if it is not one."""
    try:
        return _CATEGORICAL_BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a categorical feature (one of {list(CATEGORICAL_NAMES)})") from None
