"""Fixtures for the service tests: real models trained in-process, a repository whose registry
serves one, settings and a test client. The helpers they are built on are in ``tests/utils/service.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from churnops.service.app import create_app
from churnops.service.loader import LoadedModel, RegistryModelLoader
from churnops.service.settings import Settings
from tests.utils.doubles import FixedClock
from tests.utils.service import TOKEN, TestClient, Trained, fit, served_repo

METRICS = {"f1": 0.8, "roc_auc": 0.9}


@pytest.fixture(scope="session")
def logreg_model_b() -> Trained:
    """A second, different model, to reload to."""
    return fit({"model": "logreg", "logreg": {"C": 0.05}, "threshold": 0.4})


@pytest.fixture(scope="session")
def hgb_model() -> Trained:
    return fit({"model": "hgb", "hgb": {"max_iter": 15}})


@pytest.fixture
def repo(tmp_path: Path, logreg_model: Trained) -> Path:
    """A repository whose registry serves ``logreg_model`` (built by its one commit on ``main``)."""
    return served_repo(tmp_path / "repo", logreg_model, metrics=METRICS)


def _settings(tmp_path: Path) -> Settings:
    return Settings(repo=tmp_path / "repo", log_path=tmp_path / "logs" / "predictions.jsonl", admin_token=TOKEN)


@pytest.fixture
def settings(repo: Path, tmp_path: Path) -> Settings:
    """Settings serving ``repo`` with the real loader (``create_app(settings)``)."""
    return _settings(tmp_path)


class Preloaded:
    """A loader that hands out one model: what the HTTP tests serve (see :func:`client`)."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    def load(self) -> LoadedModel:
        return self.model


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory, logreg_model: Trained) -> LoadedModel:
    """``logreg_model`` as the real loader loads it from a served repository, once per session."""
    return RegistryModelLoader(served_repo(tmp_path_factory.mktemp("served") / "repo", logreg_model, METRICS)).load()


@pytest.fixture
def client(tmp_path: Path, served_model: LoadedModel) -> Iterator[TestClient]:
    """The app serving ``served_model``, with the real background log writer and a fixed clock,
    started and stopped; settings as :func:`settings` (same log path and token).

    The HTTP contract does not depend on where the model came from, and each real load reads
    Git and opens DVC's state (~60 ms on a fresh copy): the loader and reloads have their own
    tests (``test_model_serving.py``, whose ``client`` loads for real).
    """
    app = create_app(
        _settings(tmp_path), loader=Preloaded(served_model), clock=FixedClock(1_700_000_000.25), handle_sighup=False
    )
    with TestClient(app) as c:
        yield c
