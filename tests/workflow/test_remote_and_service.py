"""A DVC remote for a fresh clone, and a running service told to reload after a rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.pipeline.scorer import Scorer
from churnops.versioning.history import file_md5
from tests.utils.project import lock_md5, run, set_params
from tests.utils.server import health_version, running_server
from tests.utils.workflow import History, churnops

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "rollback-test-token"


def test_fresh_clone_with_empty_cache_pulls_rolls_back_and_serves(built_project: Path, tmp_path: Path) -> None:
    # The team's routine: the remote is in the committed .dvc/config; push after every accepted model.
    origin = built_project
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "-d", "storage", str(remote)], origin)
    run(["git", "commit", "-q", "-am", "dvc: default remote"], origin)
    run(["git", "tag", "v1"], origin)
    run(["dvc", "push"], origin)
    v1 = lock_md5(origin)
    set_params(origin, {"train.logreg.C": 0.1})
    run(["dvc", "repro", "--quiet"], origin)
    run(["git", "commit", "-q", "-am", "train: C=0.1"], origin)
    run(["git", "tag", "v2"], origin)
    run(["dvc", "push"], origin)
    v2 = lock_md5(origin)
    assert v1 != v2

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / ".dvc/cache").exists() and not (clone / "models/model.json").exists()
    run(["dvc", "pull"], clone)
    assert file_md5(clone / "models/model.json") == v2

    proc = churnops(clone, "rollback", "v1")
    assert proc.returncode == 0, proc.stderr
    assert "from the DVC remote 'storage'" in proc.stderr
    assert lock_md5(clone) == v1
    assert run(["dvc", "status", "--json"], clone).stdout.strip() == "{}"
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    scorer = Scorer.from_file(clone / "models/model.json", v1)  # verifies the md5, then parses
    assert (
        0.0
        <= scorer.predict_proba_one(
            {"tenure_months": 3, "num_complaints": 4, "avg_session_minutes": 5.0, "plan": "basic", "region": "north"}
        )
        <= 1.0
    )

    with running_server(clone, tmp_path / "service" / "predictions.jsonl", token=TOKEN) as (url, _):
        assert health_version(url) == v1


def test_rollback_reloads_a_running_service(history: History, tmp_path: Path) -> None:
    p = history.root
    with running_server(p, tmp_path / "service" / "predictions.jsonl", token=TOKEN) as (url, _):
        assert health_version(url) == history.v2

        proc = churnops(p, "rollback", "v1", "--reload-url", url, extra_env={"CHURNOPS_ADMIN_TOKEN": TOKEN})
        assert proc.returncode == 0, proc.stderr
        assert f"service reloaded: /health reports model_version {history.v1}" in proc.stdout
        assert health_version(url) == history.v1

        # A wrong token: the rollback is committed, the command says the reload failed and exits 1.
        proc = churnops(p, "rollback", "v2", "--reload-url", url, extra_env={"CHURNOPS_ADMIN_TOKEN": "wrong"})
        assert proc.returncode == 1
        assert "but the service did not reload" in proc.stderr and "HTTP 403" in proc.stderr
        assert lock_md5(p) == history.v2
        assert health_version(url) == history.v1
