"""Shared fixtures. End-to-end fixtures build a small copy of the project once per session."""

from __future__ import annotations

from pathlib import Path

# Importing dvc installs its log handlers on the sys.stdout and sys.stderr of that moment. Done
# here, they are the session's streams; done first inside a test that captures output (capsys),
# they would be that test's, closed when it ends, and DVC's next log line anywhere would raise.
import dvc  # noqa: F401
import pytest

from tests.utils.project import clone_built, make_project, run


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small project copy on which `dvc repro` has run and whose dvc.lock is committed.

    Session-scoped and never modified: tests take their own copy via ``built_project``.
    """
    project = make_project(tmp_path_factory.mktemp("template") / "project")
    run(["dvc", "repro", "--quiet"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "pipeline: first accepted model"], project)
    return project


@pytest.fixture
def built_project(built_template: Path, tmp_path: Path) -> Path:
    """A private copy of the built project (Git repo, workspace and DVC cache)."""
    return clone_built(built_template, tmp_path / "project")


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    """A small project copy, committed, on which nothing has run yet."""
    return make_project(tmp_path / "project")
