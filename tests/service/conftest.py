"""Fixtures for the service tests: a real model trained in-process, and a repo that records it.

Training on ~3,000 generated rows takes well under a second, so every test gets a real,
md5-verified model without running DVC.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from churnops.core.params import TrainParams
from churnops.pipeline.export import export_model
from churnops.pipeline.scorer import md5_bytes, model_bytes
from churnops.pipeline.train import TrainResult, train
from churnops.service.app import create_app
from churnops.service.settings import Settings
from tests.utils.doubles import FixedClock
from tests.utils.factories import labelled_customers, train_params

with warnings.catch_warnings():
    # Starlette 1.x deprecates its httpx-based TestClient in favour of httpx2, which is not
    # in requirements.lock; the client works and is what FastAPI documents.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TOKEN = "s3cret-token"


@dataclass(frozen=True)
class Trained:
    params: TrainParams
    result: TrainResult
    data: bytes
    md5: str


def fit(params: dict[str, Any], n: int = 3000, seed: int = 0) -> Trained:
    p = train_params(**params)
    result = train(labelled_customers(n, seed), p)
    data = model_bytes(export_model(result.pipeline, p.threshold))
    return Trained(p, result, data, md5_bytes(data))


def write_repo(repo: Path, model: Trained, metrics: dict[str, Any] | None = None) -> Path:
    """Write models/model.json and a minimal dvc.lock recording its md5 (as DVC would)."""
    (repo / "models").mkdir(parents=True, exist_ok=True)
    (repo / "models" / "model.json").write_bytes(model.data)
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "python stages/train.py",
                "params": {
                    "params.yaml": {"train.model": model.params.model, "train.threshold": model.params.threshold}
                },
                "outs": [{"path": "models/model.json", "hash": "md5", "md5": model.md5, "size": len(model.data)}],
            }
        },
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    if metrics is not None:
        (repo / "metrics").mkdir(exist_ok=True)
        (repo / "metrics" / "evaluate.json").write_text(json.dumps(metrics))
    return repo


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
    app = create_app(settings, clock=FixedClock(1_700_000_000.25), handle_sighup=False)
    with TestClient(app) as c:
        yield c
