"""The rollback transaction and lock on a plain Git repo: undo() and a later recover() restore everything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from churnops.core.errors import RollbackError
from churnops.versioning.git import lock_holder, repo_lock
from churnops.versioning.rollback import Transaction
from churnops.versioning.rollback.journal import Journal, recover
from tests.utils.project import run
from tests.utils.workflow import snapshot

pytestmark = pytest.mark.e2e  # runs git (no DVC, fast)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "metrics").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "dvc.yaml").write_text("stages: {}\n")  # a project, as the CLI's --repo requires
    (root / "params.yaml").write_text("train:\n  C: 1.0\n")
    (root / "metrics" / "a.json").write_text("{}\n")
    (root / "models" / ".gitignore").write_text("/model.json\n")
    (root / "models" / "model.json").write_text('{"model": 1}\n')
    run(["git", "init", "-q", "-b", "main"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "one"], root)
    (root / "params.yaml").write_text("train:\n  C: 2.0\n")  # a dirty tree: --force keeps it on undo
    run(["git", "add", "params.yaml"], root)
    (root / "metrics" / "a.json").write_text('{"unstaged": true}\n')
    return root


def test_undo_restores_files_outputs_index_and_head(repo: Path) -> None:
    before = snapshot(repo)
    tx = Transaction(repo, ["params.yaml", "metrics/a.json", "metrics/new.json"], ["models/model.json", "data/x"])
    tx.begin()
    assert not (repo / "models/model.json").exists()  # moved aside, not copied
    # Everything a rollback does, and worse.
    (repo / "models/model.json").write_text("other model")
    (repo / "data").mkdir()
    (repo / "data" / "x").write_text("a new output")
    (repo / "params.yaml").unlink()
    (repo / "metrics" / "new.json").write_text("[]")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "two"], repo)

    tx.undo()
    assert snapshot(repo) == before
    assert not tx.backup.exists()


def test_discard_keeps_the_new_state(repo: Path) -> None:
    tx = Transaction(repo, ["params.yaml"], ["models/model.json"])
    tx.begin()
    (repo / "models/model.json").write_text("new model")
    tx.discard()
    assert (repo / "models/model.json").read_text() == "new model"
    assert not tx.backup.exists()


def test_undo_before_begin_touches_nothing(repo: Path) -> None:
    before = snapshot(repo)
    tx = Transaction(repo, ["params.yaml"], ["models/model.json"])
    tx.undo()  # e.g. begin() itself failed before saving anything
    assert snapshot(repo) == before


def mutate(repo: Path) -> None:
    """What a rollback does to the workspace, and worse."""
    (repo / "models/model.json").write_text("other model")
    (repo / "params.yaml").unlink()
    (repo / "metrics" / "new.json").write_text("[]")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "rollback: model x from v1"], repo)


def test_a_crashed_run_is_undone_by_the_next_recover(repo: Path) -> None:
    before = snapshot(repo)
    tx = Transaction(repo, ["params.yaml", "metrics/a.json", "metrics/new.json"], ["models/model.json"], {"rev": "v1"})
    tx.begin()
    mutate(repo)
    (repo / ".git" / "index.lock").write_text("")  # a git process killed mid-write
    del tx  # the process dies: no undo()

    messages: list[str] = []
    assert recover(repo, messages.append) is not None
    assert messages and "an interrupted rollback to v1" in messages[0] and "undone" in messages[0]
    assert snapshot(repo) == before
    assert not Journal(repo).path.exists() and not Journal(repo).backup.exists()
    assert recover(repo, messages.append) is None  # idempotent: nothing left to do


def test_recover_refuses_when_someone_committed_after_the_crash(repo: Path) -> None:
    tx = Transaction(repo, ["params.yaml"], ["models/model.json"], {"rev": "v1"})
    tx.begin()
    (repo / "models/model.json").write_text("half-restored")
    run(["git", "commit", "-q", "--allow-empty", "-m", "the user's own work"], repo)
    with pytest.raises(RollbackError, match="HEAD has moved since"):
        recover(repo, print)
    assert Journal(repo).path.exists() and Journal(repo).backup.exists()  # nothing thrown away


def test_the_lock_names_its_holder_and_refuses_a_second_writer(repo: Path) -> None:
    assert lock_holder(repo) is None
    with repo_lock(repo, "churnops rollback v9"):
        holder = lock_holder(repo)
        assert holder is not None and f"held by pid {os.getpid()} (churnops rollback v9), started at " in holder
        proc = run(["churnops", "rollback", "v1", "--wait", "0.2"], repo, check=False)
        assert proc.returncode == 75
        (line,) = proc.stderr.strip().splitlines()
        assert f"held by pid {os.getpid()} (churnops rollback v9)" in line and "nothing was changed" in line
        status = run(["churnops", "rollback", "--status"], repo, check=False)
        assert status.returncode == 3 and "the repository is locked" in status.stdout
    assert lock_holder(repo) is None
