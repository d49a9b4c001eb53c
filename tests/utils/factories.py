"""Small in-memory data for unit tests, built with the project's own generator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from churnops.core.params import Params, TrainParams, load_params
from churnops.core.schema import CATEGORICAL, LABEL, NUMERIC, numeric
from churnops.monitor.rules import Rules
from churnops.pipeline.generate import churn_probability, generate_chunks, sample_features
from churnops.pipeline.prepare import validate
from tests.utils.project import FIXTURE_PARAMS

GOOD_CUSTOMER: Mapping[str, Any] = {
    "tenure_months": 3,
    "num_complaints": 4,
    "avg_session_minutes": 8.5,
    "plan": "basic",
    "region": "south",
}
"""One valid request body for /predict (tests copy it, ``{**GOOD_CUSTOMER, "plan": ...}``)."""


def raw_customers(rows: int = 3000, seed: int = 1, dirty_fraction: float = 0.0) -> pd.DataFrame:
    """Raw customers exactly as the generate stage writes them."""
    return pd.concat(list(generate_chunks(seed, rows, dirty_fraction)), ignore_index=True)


def clean_customers(rows: int = 3000, seed: int = 1) -> pd.DataFrame:
    """Validated customers in schema dtypes, as prepare hands them to train."""
    return validate(raw_customers(rows, seed)).clean


def default_params() -> Params:
    """The fixture params.yaml every test project starts from (values live only in a file)."""
    return load_params(FIXTURE_PARAMS)


def default_rules() -> Rules:
    """The drift rules of the fixture params.yaml."""
    return Rules.from_params(default_params().monitor)


def train_params(**overrides: object) -> TrainParams:
    """The fixture's ``train`` section with ``overrides``; a dict (``logreg={"C": 0.05}``) updates its sub-section."""
    base = default_params().train.model_dump()
    for key, value in overrides.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return TrainParams.model_validate(base)


def labelled_customers(n: int, seed: int) -> pd.DataFrame:
    """``n`` generated customers labelled from the true churn probability, in the prepared data's dtypes.

    The one labelled-frame factory (the service's models, the monitor's training statistics).
    """
    rng = np.random.default_rng(seed)
    cols = sample_features(rng, n)
    frame = pd.DataFrame({f.name: cols[f.name] for f in NUMERIC})
    for f in CATEGORICAL:
        frame[f.name] = pd.Categorical.from_codes(cols[f.name], categories=list(f.categories))
    frame[LABEL] = (rng.random(n) < churn_probability(cols)).astype(np.int8)
    return frame


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as the JSON a client sends."""
    out = []
    for row in frame.itertuples(index=False):
        out.append(
            {
                "tenure_months": int(row.tenure_months),
                "num_complaints": int(row.num_complaints),
                "avg_session_minutes": float(row.avg_session_minutes),
                "plan": str(row.plan),
                "region": str(row.region),
            }
        )
    return out


def draw(
    seed: int,
    n: int,
    shift: Mapping[str, float] | None = None,
    mix: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, np.ndarray]:
    """``n`` recent records as the monitor's columns (as ``churnops.monitor.quality.summarize`` builds them)."""
    rng = np.random.default_rng([seed, 99])
    cols = sample_features(rng, n, shift=shift, mix=mix)
    out = {f.name: cols[f.name].astype(np.float64) for f in NUMERIC}
    out.update({f.name: cols[f.name].astype(np.int64) for f in CATEGORICAL})
    out["churn_probability"] = churn_probability(cols)
    return out


def spread(cols: dict[str, np.ndarray], feature: str, factor: float, center: float) -> dict[str, np.ndarray]:
    """``cols`` with ``feature`` spread by ``factor`` about ``center`` (the same mean), rounded and
    clipped to the schema's range as a logged value would be."""
    f = numeric(feature)
    x = center + factor * (cols[feature] - center)
    x = np.round(x) if f.integer else np.round(x, 1)
    return {**cols, feature: np.clip(x, f.low, f.high)}
