"""The rollback transaction on a plain Git repo: whatever happens after begin(), undo() restores it."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.rollback import Transaction
from tests.utils.project import run
from tests.workflow.conftest import snapshot

pytestmark = pytest.mark.e2e  # runs git (no DVC, fast)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "metrics").mkdir(parents=True)
    (root / "models").mkdir()
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
