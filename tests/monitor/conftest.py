"""Fixtures of the monitor tests: training statistics from the generator's own distribution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churnops.core import trainstats
from churnops.core.trainstats import TrainStats
from churnops.pipeline.prepare import training_stats
from tests.utils.factories import labelled_customers

TRAIN_ROWS = 200_000


@pytest.fixture(scope="session")
def train_stats() -> TrainStats:
    """What prepare writes for a large training set drawn from the unshifted distribution.

    Labels come from the true churn probability, so the training churn rate is the mean
    probability of unshifted traffic (prediction drift is then zero in expectation).
    Round-tripped through JSON, as the monitor reads it from a file.
    """
    written = trainstats.to_json(training_stats(labelled_customers(TRAIN_ROWS, seed=20240601)))
    return trainstats.parse(json.dumps(written))


@pytest.fixture
def stats_file(train_stats: TrainStats, tmp_path: Path) -> Path:
    path = tmp_path / "train_stats.json"
    trainstats.write(path, train_stats)
    return path
