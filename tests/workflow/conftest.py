"""Fixtures of the workflow tests: a project whose history holds two accepted models, v2 in prod.

``v1`` is the first model (``train.logreg.C = 1.0``), promoted first. ``v2`` retrains with
``C = 0.1`` and also edits code the CLI and the service import (``churnops/core/errors.py``)
and a stage script, then is promoted (forced: the point here is deploying, not judging). A
rollback to ``v1`` must work across both code changes without restoring either. The history
is built once per session; each test works on its own copy. The helpers the tests import
(``History``, ``snapshot``, ``churnops``...) are in ``tests/utils/workflow.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.project import clone_built, fresh_clone, lock_md5, run, set_params
from tests.utils.workflow import CODE_EDITS, V2_PARAMS, History


@pytest.fixture(scope="session")
def history_template(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    project = clone_built(built_template, tmp_path_factory.mktemp("history") / "project")
    run(["git", "tag", "v1"], project)
    v1 = lock_md5(project)
    run(["churnops", "promote"], project)
    set_params(project, V2_PARAMS)
    for rel, line in CODE_EDITS.items():
        with (project / rel).open("a") as fh:
            fh.write(line)
    run(["dvc", "repro", "--quiet"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "train: C=0.1"], project)
    run(["git", "tag", "v2"], project)
    v2 = lock_md5(project)
    assert v1 != v2
    run(["churnops", "promote", "--force", "--reason", "fixture: v2 in prod"], project)
    return History(project, v1, v2)


@pytest.fixture
def new_user_clone(built_template: Path, tmp_path: Path) -> Path:
    """A fresh clone of a small project that ships its dvc.lock, as a new user gets one."""
    return fresh_clone(built_template, tmp_path / "project")


@pytest.fixture
def history(history_template: History, tmp_path: Path) -> History:
    """A private copy of the two-model project (repo, workspace and DVC cache)."""
    return History(clone_built(history_template.root, tmp_path / "project"), history_template.v1, history_template.v2)
