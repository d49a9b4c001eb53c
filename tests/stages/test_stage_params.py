"""Each stage's `params:` list in dvc.yaml is exactly what its code reads.

The stage's ``main`` runs in-process on tiny data with ``load_params`` replaced by a
recorder that notes every attribute path the code touches. If code reads a key that
dvc.yaml does not list, changing it would not re-run the stage (a stale model); if
dvc.yaml lists a key the code never reads, changing it re-runs the stage for nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from churnops.core.params import load_params
from tests.utils.project import REPO_ROOT, fixture_params, set_params


class Recorder:
    """Wraps a params model; records dotted paths of the leaves that are read."""

    def __init__(self, obj: BaseModel, path: str, seen: set[str]) -> None:
        self._obj, self._path, self._seen = obj, path, seen

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        dotted = f"{self._path}.{name}" if self._path else name
        if isinstance(value, BaseModel):
            return Recorder(value, dotted, self._seen)
        self._seen.add(dotted)
        return value


def load_stage(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO_ROOT / "stages" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def declared(stage: str) -> set[str]:
    return set(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"][stage].get("params") or [])


def covered(read: set[str], listed: set[str]) -> tuple[set[str], set[str]]:
    """(keys read but not listed, keys listed but never read); a listed dict covers its leaves."""
    unlisted = {r for r in read if not any(r == k or r.startswith(k + ".") for k in listed)}
    unread = {k for k in listed if not any(r == k or r.startswith(k + ".") for r in read)}
    return unlisted, unread


def run_stage(name: str, params_file: Path, argv: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    module = load_stage(name)
    seen: set[str] = set()
    if hasattr(module, "load_params"):
        monkeypatch.setattr(module, "load_params", lambda path: Recorder(load_params(path), "", seen))
    module.main(argparse.Namespace(params=str(params_file), **argv))
    return seen


@pytest.mark.slow
def test_every_stage_lists_exactly_the_params_it_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(fixture_params())
    set_params(tmp_path, {"generate.rows": 3000, "generate.traffic.rows": 50})
    d = tmp_path
    read: dict[str, set[str]] = {}
    read["generate"] = run_stage(
        "generate",
        params,
        {"out": f"{d}/raw.parquet", "traffic_out": f"{d}/t.jsonl", "labels_out": f"{d}/labels.csv"},
        monkeypatch,
    )
    set_params(tmp_path, {"feedback.log": f"{d}/t.jsonl", "feedback.labels": f"{d}/labels.csv"})
    read["labels"] = run_stage("labels", params, {"data": f"{d}/fb.parquet", "details": f"{d}/lb.json"}, monkeypatch)
    set_params(tmp_path, {"feedback.include": True, "feedback.weight": 2})  # the weight is read only then
    read["prepare"] = run_stage(
        "prepare",
        params,
        {
            "raw": f"{d}/raw.parquet",
            "train": f"{d}/train.parquet",
            "test": f"{d}/test.parquet",
            "quarantine": f"{d}/q.parquet",
            "stats": f"{d}/stats.json",
            "metrics": f"{d}/prepare.json",
            "details": f"{d}/prepare_details.json",
            "feedback": f"{d}/fb.parquet",
        },
        monkeypatch,
    )
    read["train"] = set()
    for model in ("logreg", "hgb"):  # each model reads its own hyperparameter section
        set_params(tmp_path, {"train.model": model, "train.hgb.max_iter": 5})
        read["train"] |= run_stage(
            "train",
            params,
            {
                "train": f"{d}/train.parquet",
                "model": f"{d}/model.json",
                "metrics": f"{d}/train.json",
                "details": f"{d}/train_details.json",
            },
            monkeypatch,
        )
    read["feedback"] = run_stage(
        "feedback",
        params,
        {"model": f"{d}/model.json", "metrics": f"{d}/fb.json", "details": f"{d}/fbd.json"},
        monkeypatch,
    )
    # With no champion pinned (the fixture's), the verdict still records the rule it would apply.
    read["judge"] = run_stage(
        "judge",
        params,
        {
            "model": f"{d}/model.json",
            "feedback": f"{d}/fb.parquet",
            "test": f"{d}/test.parquet",
            "metrics": f"{d}/judge.json",
            "details": f"{d}/judge_details.json",
        },
        monkeypatch,
    )
    for stage, keys in read.items():
        assert keys, f"{stage} read no params at all: the recorder is not wired in"
        unlisted, unread = covered(keys, declared(stage))
        assert not unlisted, f"{stage} reads {sorted(unlisted)} but dvc.yaml does not list them"
        assert not unread, f"dvc.yaml lists {sorted(unread)} for {stage} but its code never reads them"
    assert not declared("evaluate"), "evaluate reads the threshold from the model file, not params"
