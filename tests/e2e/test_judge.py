"""The `judge` stage in a small project: a verdict on record, never a failed build; the champion pinned by md5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.utils.project import REPO_ROOT, lock_md5, run, set_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def verdict(project: Path) -> tuple[dict, dict]:
    """(the DVC metric, the details) the judge stage wrote."""
    read = lambda rel: json.loads((project / rel).read_text())  # noqa: E731
    return read("metrics/judge.json"), read("metrics/details/judge.json")


def judge_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("judge: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_the_first_model_has_no_champion_and_pinned_it_is_the_same(built_project: Path) -> None:
    headline, details = verdict(built_project)
    md5 = lock_md5(built_project)
    assert headline == {"verdict": "first"}
    assert details["recommend"] is True and details["candidate_md5"] == md5 and details["champion_md5"] is None
    assert details["gain"] is None and details["lower_bound"] is None

    set_params(built_project, {"promote.champion": md5})
    # Pinning a champion re-runs only the stage that reads it: the model is not rebuilt, and the
    # feedback stage measures the model the pipeline built, not the champion.
    assert set(json.loads(run(["dvc", "status", "--json"], built_project).stdout)) == {"params", "judge"}
    proc = run(["dvc", "repro"], built_project)
    assert judge_line(proc.stderr).startswith(f"judge: same: the candidate is the champion ({md5}), f1=0.")
    headline, details = verdict(built_project)
    assert headline == {"verdict": "same"}
    assert details["recommend"] is False and details["champion_md5"] == md5
    assert details["gain"] == 0.0 and details["lower_bound"] is None
    feedback = json.loads((built_project / "metrics/details/feedback.json").read_text())
    assert list(feedback["per_model_version"]) == [md5] and feedback["n_unscored"] == 0


def test_a_worse_candidate_is_kept_and_a_better_one_promoted_and_the_build_never_fails(built_project: Path) -> None:
    good = lock_md5(built_project)
    # A too-strict threshold: a worse model that still passes the gate.
    set_params(built_project, {"promote.champion": good, "train.threshold": 0.75})
    proc = run(["dvc", "repro"], built_project)  # check=True: losing is a verdict, not a failure
    line = judge_line(proc.stderr)
    assert line.startswith("judge: keep: candidate f1=0.") and " vs champion 0." in line
    assert "at 95 % (needs > 0.000)" in line
    worse = lock_md5(built_project)
    assert worse != good  # the build records what it built; deploying is another act
    headline, details = verdict(built_project)
    assert headline == {"verdict": "keep"} and details["lower_bound"] < 0 < details["share_at_or_below_min_gain"]
    assert details["basis"] in ("feedback_holdout", "test") and details[details["basis"]]["n"] == details["n"]

    # The other way round: the better model against the worse one pinned (both are in the cache).
    set_params(built_project, {"promote.champion": worse, "train.threshold": 0.5})
    proc = run(["dvc", "repro"], built_project)
    assert judge_line(proc.stderr).startswith("judge: promote: candidate f1=0.")
    assert lock_md5(built_project) == good  # the same model as before, from the run-cache or rebuilt
    headline, details = verdict(built_project)
    assert headline == {"verdict": "promote"} and 0 < details["lower_bound"] < details["gain"]
    assert details["recommend"] is True and details["champion_md5"] == worse


def test_a_pinned_champion_that_is_nowhere_stops_with_one_line_naming_the_key(built_project: Path) -> None:
    missing = "0" * 32
    set_params(built_project, {"promote.champion": missing})
    expected = (
        f"promote.champion {missing}: not in the DVC cache, and no default DVC remote is configured; "
        "run `dvc pull` with the remote that holds it (docs/remote-storage.md), "
        "or set promote.champion in params.yaml to a model this project has (null: none)"
    )
    proc = run(["dvc", "repro"], built_project, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"judge: {expected}" in proc.stderr.splitlines()  # the one stage that reads it
    # The judge stage itself, as dvc.yaml runs it.
    cmd = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]["judge"]["cmd"]
    proc = run(cmd, built_project, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"judge: {expected}"
    # A remote that cannot be read: its own words, under the key's name.
    run(["dvc", "remote", "add", "-d", "broken", str(built_project / "no-such-dir")], built_project)
    proc = run(cmd, built_project, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(f"judge: promote.champion {missing}: DVC remote 'broken' (")
    assert proc.stderr.strip().endswith("no-such-dir): no such directory")
