"""Small in-memory data for unit tests, built with the project's own generator."""

from __future__ import annotations

import pandas as pd

from churnops.core.params import Params, TrainParams, load_params
from churnops.monitor.drift import Rules
from churnops.pipeline.generate import generate_chunks
from churnops.pipeline.prepare import validate
from tests.utils.project import FIXTURE_PARAMS


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
