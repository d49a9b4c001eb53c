"""A commit that trained on served traffic rebuilds from Git and the DVC remote alone.

The served log (``logs/``, git-ignored) keeps growing; ``churnops feedback snapshot`` versions
its labeled part, the ``feedback`` stage reads that, and neither more traffic nor a fresh
clone changes what the commit means.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.utils.project import fresh_clone, run, set_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SNAP = "data/feedback/snapshot"


def clean(project: Path) -> None:
    assert json.loads(run(["dvc", "status", "--json"], project).stdout) == {}
    assert run(["git", "status", "--porcelain"], project).stdout == ""


def test_a_commit_trained_on_served_traffic_rebuilds_from_git_and_the_remote(
    built_project: Path, tmp_path: Path
) -> None:
    p = built_project
    # Served traffic: the simulated log stands in (customer ids, no decisions), rotated once;
    # labels arrive for three quarters of the customers.
    (p / "logs").mkdir()
    traffic = (p / "data/traffic/predictions.jsonl").read_bytes().splitlines(keepends=True)
    (p / "logs/predictions.jsonl.1").write_bytes(b"".join(traffic[:150]))
    (p / "logs/predictions.jsonl").write_bytes(b"".join(traffic[150:]))
    labels = (p / "data/traffic/labels.csv").read_text().splitlines(keepends=True)
    (p / "logs/labels-1.csv").write_text("".join(labels[:301]))

    # Retrain on the live files, as before snapshots: it works, with a warning that a clone could not.
    set_params(p, {"feedback.log": "logs/predictions.jsonl", "feedback.labels": "logs/labels-1.csv",
                   "feedback.include": True})  # fmt: skip
    warned = [ln for ln in run(["dvc", "repro"], p).stderr.splitlines() if "warning" in ln]
    assert warned == [
        "labels: warning: feedback.log logs/predictions.jsonl and feedback.labels logs/labels-1.csv: tracked by "
        "neither Git nor DVC, so a clone of this commit cannot rebuild it; version them with `churnops feedback "
        "snapshot`"
    ]
    outputs = ("data/feedback/labeled.parquet", "metrics/details/labels.json", "metrics/details/feedback.json")
    live = {rel: (p / rel).read_bytes() for rel in outputs}

    out = run(["churnops", "feedback", "snapshot", "--log", "logs/predictions.jsonl", "--labels",
               "logs/labels-1.csv"], p).stdout  # fmt: skip
    assert f"wrote {SNAP}/predictions.jsonl: 300 of 400 log lines (2 file(s))" in out
    assert f"  log: {SNAP}/predictions.jsonl\n  labels: {SNAP}/labels.csv\n" in out
    assert f"\ngit add {SNAP}.dvc data/feedback/.gitignore\n" in out
    set_params(p, {"feedback.log": f"{SNAP}/predictions.jsonl", "feedback.labels": f"{SNAP}/labels.csv"})
    # The stage's outputs on the snapshot are those on the live files: nothing after it re-runs.
    repro = run(["dvc", "repro"], p)
    assert "warning" not in repro.stderr
    # params: params.yaml changed; labels and feedback: their inputs' paths did
    assert re.findall(r"Running stage '(\w+)'", repro.stdout) == ["params", "labels", "feedback"]
    assert {rel: (p / rel).read_bytes() for rel in live} == live
    run(["git", "add", "-A"], p)
    run(["git", "commit", "-q", "-m", "retrain on labeled served traffic"], p)
    clean(p)
    details = json.loads((p / "metrics/details/labels.json").read_text())
    assert details["n_dataset"] == 300  # every labeled customer of the snapshot reached the dataset

    # More traffic is served: the committed state does not move.
    with (p / "logs/predictions.jsonl").open("ab") as fh:
        fh.write(b"".join(traffic))
    clean(p)

    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "local", str(remote)], p)
    run(["git", "commit", "-q", "-am", "a DVC remote"], p)
    run(["dvc", "push", "--quiet"], p)

    clone = fresh_clone(p, tmp_path / "clone")
    assert not (clone / "logs").exists() and not (clone / SNAP).exists()
    run(["dvc", "pull", "--quiet"], clone)
    clean(clone)
    for name in ("predictions.jsonl", "labels.csv"):
        assert (clone / SNAP / name).read_bytes() == (p / SNAP / name).read_bytes()
    repro = run(["dvc", "repro"], clone)
    assert "Running stage" not in repro.stdout + repro.stderr, repro.stdout
    assert "Data and pipelines are up to date." in repro.stdout
    clean(clone)
