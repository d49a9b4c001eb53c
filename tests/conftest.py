"""Shared fixtures. End-to-end fixtures build a small copy of the project once per test run, lazily:
a run that needs none of them builds none. Under pytest-xdist the first worker that needs one
builds it and the others wait for it (:func:`once_per_run`), so two cores build it once, not twice.

``history_template``: a project whose history holds two accepted models, v2 in prod. ``v1`` is the
first model (``train.logreg.C = 1.0``), promoted first. ``v2`` retrains with ``C = 0.1`` and also
edits code the CLI and the service import (``churnops/core/errors.py``) and a stage script, then is
promoted (forced: the point is deploying, not judging). A rollback to ``v1`` must work across
both code changes without restoring either. Each test works on its own copy (``history``).
"""

from __future__ import annotations

# Importing dvc installs its log handlers on the sys.stdout and sys.stderr of that moment. Done
# here, they are the session's streams; done first inside a test that captures output (capsys),
# they would be that test's, closed when it ends, and DVC's next log line anywhere would raise.
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import dvc  # noqa: F401
import pytest

from churnops.core import trainstats
from churnops.core.trainstats import TrainStats
from churnops.pipeline.prepare import training_stats
from tests.utils.factories import labelled_customers
from tests.utils.project import clone_built, fresh_clone, lock_md5, make_project, once_per_run, run, set_params
from tests.utils.s3server import credentials, make_bucket, moto_server
from tests.utils.service import Trained, fit
from tests.utils.workflow import CODE_EDITS, V2_PARAMS, History


@pytest.fixture(scope="session")
def logreg_model() -> Trained:
    """A logistic-regression model trained in-process (no dvc), for tests that serve a model."""
    return fit({"model": "logreg"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Walkthroughs first, then the other slow tests: xdist deals the first tests out in turn, so
    the minutes-long ones start at once on different workers instead of ending the run alone."""
    items.sort(
        key=lambda item: (item.get_closest_marker("walkthrough") is None, item.get_closest_marker("slow") is None)
    )


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small project copy on which `dvc repro` has run and whose dvc.lock is committed.

    Built once per run and never modified: tests take their own copy via ``built_project``.
    """

    def build(dest: Path) -> dict[str, str]:
        project = make_project(dest)
        run(["dvc", "repro", "--quiet"], project)
        run(["git", "add", "-A"], project)
        run(["git", "commit", "-q", "-m", "pipeline: first accepted model"], project)
        return {}

    return once_per_run(tmp_path_factory, "built", build)[0]


@pytest.fixture
def built_project(built_template: Path, tmp_path: Path) -> Path:
    """A private copy of the built project (Git repo, workspace and DVC cache)."""
    return clone_built(built_template, tmp_path / "project")


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    """A small project copy, committed, on which nothing has run yet."""
    return make_project(tmp_path / "project")


@pytest.fixture(scope="session")
def history_template(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    def build(dest: Path) -> dict[str, str]:
        project = clone_built(built_template, dest)
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
        return {"v1": v1, "v2": v2}

    project, md5 = once_per_run(tmp_path_factory, "history", build)
    return History(project, md5["v1"], md5["v2"])


@pytest.fixture
def new_user_clone(built_template: Path, tmp_path: Path) -> Path:
    """A fresh clone of a small project that ships its dvc.lock, as a new user gets one."""
    return fresh_clone(built_template, tmp_path / "project")


@pytest.fixture
def history(history_template: History, tmp_path: Path) -> History:
    """A private copy of the two-model project (repo, workspace and DVC cache)."""
    return History(clone_built(history_template.root, tmp_path / "project"), history_template.v1, history_template.v2)


# A local S3-compatible server (moto), one per test worker, and a bucket of each test's own.


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1, for the whole session (stopped at its end)."""
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Fake AWS credentials in this test's environment only (subprocesses inherit them); the machine's
    ``~/.aws`` is out of reach."""
    values = credentials(tmp_path / "aws")
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the session's S3 server, named for this test alone."""
    name = f"churnops-{uuid.uuid4().hex[:12]}"
    make_bucket(s3_endpoint, name)
    return name


# Training statistics from the generator's own distribution (the monitor's reference).

TRAIN_ROWS = 200_000


@pytest.fixture(scope="session")
def train_stats() -> TrainStats:
    """What prepare writes for a large training set drawn from the unshifted distribution.

    Labels come from the true churn probability, so the training churn rate is the mean
    probability of unshifted traffic (prediction drift is then zero in expectation).
    Round-tripped through JSON, as the monitor reads it from a file.
    """
    written = trainstats.to_json(training_stats(labelled_customers(TRAIN_ROWS, seed=20240601)))
    return trainstats.parse(json.dumps(written))


@pytest.fixture
def stats_file(train_stats: TrainStats, tmp_path: Path) -> Path:
    path = tmp_path / "train_stats.json"
    trainstats.write(path, train_stats)
    return path
