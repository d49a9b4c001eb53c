"""`dvc repro` end to end in throw-away copies of the project (small params)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.utils.project import lock_md5, run, set_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTPUTS = [
    "data/raw/customers.parquet",
    "data/prepared/train.parquet",
    "models/model.json",
    "metrics/details/judge.json",  # the verdict's evidence: md5s, F1s on both sets
]


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


def lock_after_params(project: Path) -> dict:
    """dvc.lock without the ``params`` stage, which records any params.yaml that validated."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    del lock["stages"]["params"]
    return lock


def test_a_failing_gate_never_reaches_dvc_lock(built_project: Path) -> None:
    lock_before = lock_after_params(built_project)
    accepted = lock_md5(built_project)

    proc = run(["dvc", "exp", "run", "-S", "train.gate_f1=0.99"], built_project, check=False)
    assert proc.returncode != 0
    assert "gate failed: f1=0." in proc.stdout + proc.stderr
    assert "< gate_f1=0.990" in proc.stdout + proc.stderr
    assert lock_after_params(built_project) == lock_before

    run(["git", "checkout", "--", "params.yaml"], built_project)
    set_params(built_project, {"train.gate_f1": 0.99})
    proc = run(["dvc", "repro"], built_project, check=False)
    assert proc.returncode != 0
    assert "train: gate failed: f1=0." in proc.stderr
    assert lock_after_params(built_project) == lock_before
    verdict = json.loads((built_project / "metrics" / "train.json").read_text())["gate"]
    assert verdict["passed"] is False and verdict["gate_f1"] == 0.99  # the failure is on record
    assert not (built_project / "models" / "model.json").exists()
    # DVC removed the workspace copy before running train; the accepted model is in its cache.
    run(["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics"], built_project)
    run(["dvc", "checkout"], built_project)
    assert md5(built_project / "models" / "model.json") == accepted
    assert json.loads(run(["dvc", "status", "--json"], built_project).stdout) == {}


def test_changing_the_gate_reruns_train_and_not_the_data_stages(built_project: Path) -> None:
    set_params(built_project, {"train.gate_f1": 0.71})
    status = json.loads(run(["dvc", "status", "--json"], built_project).stdout)
    # `params` depends on params.yaml as a file, so any edit re-runs it; its output (the
    # schema) is unchanged, so of the real stages only the one that lists the key re-runs.
    assert set(status) == {"params", "train"}
    out = run(["dvc", "repro"], built_project).stdout
    assert "Running stage 'params'" in out
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
    assert "params: params.yaml: generate.rows: Input should be greater than 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (built_project / "dvc.lock").read_bytes() == lock_before
    # The params stage refused it before generate ran: the data were not even removed.
    raw = built_project / "data" / "raw" / "customers.parquet"
    assert md5(raw) == lock_md5(built_project, "data/raw/customers.parquet")
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


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # A typo beside the real key: DVC alone would ignore the unknown key ("up to date").
        (
            lambda text: text.replace("  gate_f1: 0.70", "  gate_f1: 0.70\n  gate_fl: 0.9"),
            ["train.gate_fl: Extra inputs"],
        ),
        # A rename: DVC alone would say "Parameters 'train.gate_f1' are missing".
        (
            lambda text: text.replace("  gate_f1:", "  gate_fl:"),
            ["train.gate_fl: Extra inputs", "train.gate_f1: Field required"],
        ),
        # A deleted key deep in a section is no silent default either.
        (lambda text: text.replace("    max_depth: null\n", ""), ["train.hgb.max_depth: Field required"]),
    ],
    ids=["typo-beside", "renamed", "deleted"],
)
def test_dvc_repro_refuses_an_unknown_or_missing_key_before_any_stage_runs(
    built_project: Path, edit, expected: list[str]
) -> None:
    params = built_project / "params.yaml"
    lock_before = (built_project / "dvc.lock").read_bytes()
    params.write_text(edit(params.read_text()))
    proc = run(["dvc", "repro"], built_project, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("params: ")]
    assert len(errors) == 1, proc.stderr  # one line, naming every culprit
    for fragment in expected:
        assert f"params.yaml: {fragment}" in errors[0]
    assert "Traceback" not in proc.stderr
    ran = [line for line in proc.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == ["Running stage 'params':"]
    assert (built_project / "dvc.lock").read_bytes() == lock_before


def test_dvc_exp_run_refuses_a_typo_in_a_set_param(built_project: Path) -> None:
    lock_before = (built_project / "dvc.lock").read_bytes()
    # DVC itself refuses to set a key that does not exist...
    proc = run(["dvc", "exp", "run", "-S", "train.gate_fl=0.9"], built_project, check=False)
    assert proc.returncode != 0
    assert "train.gate_fl" in proc.stderr and "Running stage" not in proc.stdout
    # ...and when told to add it ("+key"), the params stage refuses it in the project's words.
    proc = run(["dvc", "exp", "run", "-S", "+train.gate_fl=0.9"], built_project, check=False)
    assert proc.returncode != 0
    assert "params: params.yaml: train.gate_fl: Extra inputs are not permitted (got 0.9)" in proc.stderr
    assert "Running stage 'generate'" not in proc.stdout and "Running stage 'train'" not in proc.stdout
    assert (built_project / "dvc.lock").read_bytes() == lock_before
    # Like any failed `dvc exp run`, DVC leaves its override in the workspace's params.yaml.
    assert "gate_fl: 0.9" in (built_project / "params.yaml").read_text()
