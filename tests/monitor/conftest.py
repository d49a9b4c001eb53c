"""Fixtures of the monitor tests: training statistics from the generator's own distribution."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnops.core.schema import BY_NAME, CATEGORICAL, NUMERIC
from churnops.pipeline.generate import churn_probability, sample_features
from churnops.pipeline.prepare import training_stats

TRAIN_ROWS = 200_000


def draw(
    seed: int,
    n: int,
    shift: Mapping[str, float] | None = None,
    mix: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, np.ndarray]:
    """``n`` recent records as the monitor's columns (see ``churnops.monitor.drift.columns``)."""
    rng = np.random.default_rng([seed, 99])
    cols = sample_features(rng, n, shift=shift, mix=mix)
    out = {f.name: cols[f.name].astype(np.float64) for f in NUMERIC}
    out.update({f.name: cols[f.name].astype(np.int64) for f in CATEGORICAL})
    out["churn_probability"] = churn_probability(cols)
    return out


def spread(cols: dict[str, np.ndarray], feature: str, factor: float, center: float) -> dict[str, np.ndarray]:
    """``cols`` with ``feature`` spread by ``factor`` about ``center`` (the same mean), rounded and
    clipped to the schema's range as a logged value would be."""
    f = BY_NAME[feature]
    x = center + factor * (cols[feature] - center)
    x = np.round(x) if f.integer else np.round(x, 1)  # type: ignore[union-attr]
    return {**cols, feature: np.clip(x, f.low, f.high)}  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def train_stats() -> dict:
    """What prepare writes for a large training set drawn from the unshifted distribution.

    Labels come from the true churn probability, so the training churn rate is the mean
    probability of unshifted traffic (prediction drift is then zero in expectation).
    Round-tripped through JSON, as the monitor reads it from a file.
    """
    rng = np.random.default_rng(20240601)
    cols = sample_features(rng, TRAIN_ROWS)
    frame = pd.DataFrame({f.name: cols[f.name] for f in NUMERIC})
    for f in CATEGORICAL:
        frame[f.name] = pd.Categorical.from_codes(cols[f.name], categories=list(f.categories))
    frame["churn"] = (rng.random(TRAIN_ROWS) < churn_probability(cols)).astype(np.int8)
    return json.loads(json.dumps(training_stats(frame)))


@pytest.fixture
def stats_file(train_stats: dict, tmp_path: Path) -> Path:
    path = tmp_path / "train_stats.json"
    path.write_text(json.dumps(train_stats))
    return path
