"""Helpers for tests of the service: a real model trained in-process, a repo that records it,
and the test client.

Training on ~3,000 generated rows takes well under a second, so a test gets a real,
md5-verified model without running DVC. The fixtures built on these live in
``tests/service/conftest.py``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from churnops.core.params import TrainParams
from churnops.pipeline.export import export_model
from churnops.pipeline.scorer import md5_bytes, model_bytes
from churnops.pipeline.train import TrainResult, train
from tests.utils.factories import labelled_customers, train_params

with warnings.catch_warnings():
    # Starlette 1.x deprecates its httpx-based TestClient in favour of httpx2, which is not
    # in requirements.lock; the client works and is what FastAPI documents.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = ["TOKEN", "TestClient", "Trained", "fit", "write_repo"]

TOKEN = "s3cret-token"
"""The admin token of the test services."""


@dataclass(frozen=True)
class Trained:
    """A fitted model and its exported bytes, as DVC would record them."""

    params: TrainParams
    result: TrainResult
    data: bytes
    md5: str


def fit(params: dict[str, Any], n: int = 3000, seed: int = 0) -> Trained:
    """Train on ``n`` generated customers with the fixture's train params updated by ``params``."""
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
