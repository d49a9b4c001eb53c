"""Small in-memory data for unit tests, built with the project's own generator."""

from __future__ import annotations

import pandas as pd

from churnops.generate import generate_chunks
from churnops.params import Params, TrainParams
from churnops.prepare import validate


def raw_customers(rows: int = 3000, seed: int = 1, dirty_fraction: float = 0.0) -> pd.DataFrame:
    """Raw customers exactly as the generate stage writes them."""
    return pd.concat(list(generate_chunks(seed, rows, dirty_fraction)), ignore_index=True)


def clean_customers(rows: int = 3000, seed: int = 1) -> pd.DataFrame:
    """Validated customers in schema dtypes, as prepare hands them to train."""
    return validate(raw_customers(rows, seed)).clean


def default_params() -> Params:
    """The defaults of every section (what an empty section in params.yaml means)."""
    return Params(generate={}, prepare={}, train={}, monitor={}, feedback={})  # type: ignore[arg-type]


def train_params(**overrides: object) -> TrainParams:
    return TrainParams.model_validate({**default_params().train.model_dump(), **overrides})
