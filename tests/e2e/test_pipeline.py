"""`dvc repro` end to end in throw-away copies of the project (small params)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.utils.project import lock_md5, run, set_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTPUTS = ["data/raw/customers.parquet", "data/prepared/train.parquet", "models/model.json"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_a_fresh_clone_reproduces_the_committed_lock_bit_for_bit_on_one_core(
    built_template: Path, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(built_template), str(clone)], tmp_path)
    assert not (clone / "models" / "model.json").exists()  # outputs live in DVC, not Git
    # One core here, whatever the template was built on: thread counts must not leak into bytes.
    run(["taskset", "-c", "0", "dvc", "repro", "--quiet"], clone)
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    assert json.loads(run(["dvc", "status", "--json"], clone).stdout) == {}
    for rel in OUTPUTS:
        assert md5(clone / rel) == lock_md5(clone, rel)


def test_a_failing_gate_never_reaches_dvc_lock(built_project: Path) -> None:
    lock_before = (built_project / "dvc.lock").read_bytes()
    accepted = lock_md5(built_project)

    proc = run(["dvc", "exp", "run", "-S", "train.gate_f1=0.99"], built_project, check=False)
    assert proc.returncode != 0
    assert "gate failed: f1=0." in proc.stdout + proc.stderr
    assert "< gate_f1=0.990" in proc.stdout + proc.stderr
    assert (built_project / "dvc.lock").read_bytes() == lock_before

    run(["git", "checkout", "--", "params.yaml"], built_project)
    set_params(built_project, {"train.gate_f1": 0.99})
    proc = run(["dvc", "repro"], built_project, check=False)
    assert proc.returncode != 0
    assert "train: gate failed: f1=0." in proc.stderr
    assert (built_project / "dvc.lock").read_bytes() == lock_before
    verdict = json.loads((built_project / "metrics" / "train.json").read_text())["gate"]
    assert verdict["passed"] is False and verdict["gate_f1"] == 0.99  # the failure is on record
    assert not (built_project / "models" / "model.json").exists()
    # DVC removed the workspace copy before running train; the accepted model is in its cache.
    run(["git", "checkout", "--", "params.yaml", "metrics"], built_project)
    run(["dvc", "checkout"], built_project)
    assert md5(built_project / "models" / "model.json") == accepted
    assert json.loads(run(["dvc", "status", "--json"], built_project).stdout) == {}


def test_changing_the_gate_reruns_train_and_not_the_data_stages(built_project: Path) -> None:
    set_params(built_project, {"train.gate_f1": 0.71})
    status = json.loads(run(["dvc", "status", "--json"], built_project).stdout)
    assert set(status) == {"train"}
    out = run(["dvc", "repro"], built_project).stdout
    assert "Stage 'generate' didn't change, skipping" in out
    assert "Stage 'prepare' didn't change, skipping" in out
    assert "Running stage 'train'" in out
    # Same data, same hyperparameters: the same model bytes, so evaluate need not run.
    assert "Stage 'evaluate' didn't change, skipping" in out


def test_metrics_and_params_diff_between_commits(built_project: Path) -> None:
    set_params(built_project, {"train.model": "hgb", "train.hgb.max_iter": 20})
    run(["dvc", "repro", "--quiet"], built_project)
    run(["git", "commit", "-qam", "train: gradient boosting"], built_project)
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD~1", "HEAD", "--json"], built_project).stdout)
    f1 = diff["metrics/evaluate.json"]["f1"]
    assert f1["diff"] != 0 and f1["old"] != f1["new"]
    params = json.loads(run(["dvc", "params", "diff", "HEAD~1", "HEAD", "--json"], built_project).stdout)
    assert params["params.yaml"]["train.model"] == {"old": "logreg", "new": "hgb"}
    text = run(["dvc", "metrics", "diff", "HEAD~1", "HEAD"], built_project).stdout
    assert "metrics/evaluate.json" in text and "f1" in text


def test_bad_params_are_rejected_before_any_work(built_project: Path) -> None:
    lock_before = (built_project / "dvc.lock").read_bytes()
    set_params(built_project, {"generate.rows": -5})
    proc = run(["dvc", "repro"], built_project, check=False)
    assert proc.returncode != 0
    assert "generate: params.yaml: generate.rows: Input should be greater than 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (built_project / "dvc.lock").read_bytes() == lock_before
    assert not (built_project / "data" / "raw" / "customers.parquet").exists()  # nothing half-written
    run(["git", "checkout", "--", "params.yaml"], built_project)
    run(["dvc", "checkout", "--force"], built_project)
    assert json.loads(run(["dvc", "status", "--json"], built_project).stdout) == {}


def test_plots_render_and_diff(built_project: Path, tmp_path: Path) -> None:
    shown = json.loads(run(["dvc", "plots", "show", "--json"], built_project).stdout)
    assert shown.get("errors", []) == []
    assert {"roc", "precision_recall", "confusion"} <= set(shown["data"])
    confusion = shown["data"]["confusion"][0]["content"]
    assert confusion["spec"]["transform"][0]["aggregate"][0] == {"op": "sum", "field": "count", "as": "xy_count"}
    assert sum(r["count"] for r in confusion["data"]["values"]) > 0
    out = tmp_path / "plots"
    run(["dvc", "plots", "diff", "HEAD", "-o", str(out)], built_project)
    assert (out / "index.html").stat().st_size > 1000
    shutil.rmtree(out)
