"""Fixtures for the service tests: real models trained in-process, a repo that records one,
settings and a test client. The helpers they are built on are in ``tests/utils/service.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from churnops.service.app import create_app
from churnops.service.settings import Settings
from tests.utils.doubles import FixedClock
from tests.utils.service import TOKEN, TestClient, Trained, fit, write_repo


@pytest.fixture(scope="session")
def logreg_model() -> Trained:
    return fit({"model": "logreg"})


@pytest.fixture(scope="session")
def logreg_model_b() -> Trained:
    """A second, different model, to reload to."""
    return fit({"model": "logreg", "logreg": {"C": 0.05}, "threshold": 0.4})


@pytest.fixture(scope="session")
def hgb_model() -> Trained:
    return fit({"model": "hgb", "hgb": {"max_iter": 15}})


@pytest.fixture
def repo(tmp_path: Path, logreg_model: Trained) -> Path:
    return write_repo(tmp_path / "repo", logreg_model, metrics={"f1": 0.8, "roc_auc": 0.9})


@pytest.fixture
def settings(repo: Path, tmp_path: Path) -> Settings:
    return Settings(repo=repo, log_path=tmp_path / "logs" / "predictions.jsonl", admin_token=TOKEN)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app on ``settings`` with the real background log writer and a fixed clock, started and stopped."""
    app = create_app(settings, clock=FixedClock(1_700_000_000.25), handle_sighup=False)
    with TestClient(app) as c:
        yield c
