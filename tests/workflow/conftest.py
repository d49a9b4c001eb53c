"""Fixtures of the workflow tests: a project whose history holds two accepted models.

``v1`` is the first model (``train.logreg.C = 1.0``); ``v2`` retrains with ``C = 0.1`` and
also edits a stage script, so a rollback to ``v1`` must restore pipeline code as well.
The history is built once per session; each test works on its own copy.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.utils.project import clone_built, env, lock_md5, run, set_params

V2_PARAMS = {"train.logreg.C": 0.1}
STAGE_EDIT = "stages/evaluate.py"
STAGE_EDIT_LINE = "# v2: a comment, so the stage's code hash differs from v1's\n"


@dataclass(frozen=True)
class History:
    """A project copy with tags ``v1`` and ``v2`` (HEAD), and the model md5 of each."""

    root: Path
    v1: str
    v2: str


@pytest.fixture(scope="session")
def history_template(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    project = clone_built(built_template, tmp_path_factory.mktemp("history") / "project")
    run(["git", "tag", "v1"], project)
    v1 = lock_md5(project)
    set_params(project, V2_PARAMS)
    with (project / STAGE_EDIT).open("a") as fh:
        fh.write(STAGE_EDIT_LINE)
    run(["dvc", "repro", "--quiet"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "train: C=0.1"], project)
    run(["git", "tag", "v2"], project)
    v2 = lock_md5(project)
    assert v1 != v2
    return History(project, v1, v2)


@pytest.fixture
def history(history_template: History, tmp_path: Path) -> History:
    """A private copy of the two-model project (repo, workspace and DVC cache)."""
    return History(clone_built(history_template.root, tmp_path / "project"), history_template.v1, history_template.v2)


def snapshot(project: Path) -> dict[str, object]:
    """Everything a failed rollback must leave exactly as it was: HEAD, index, tree, files."""

    def git(*args: str) -> str:
        return run(["git", *args], project).stdout

    files = {}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project).as_posix()
        if rel.startswith((".git/", ".dvc/tmp/", ".dvc/cache/")) or not path.is_file():
            continue
        files[rel] = hashlib.md5(path.read_bytes()).hexdigest()
    return {
        "HEAD": git("rev-parse", "HEAD"),
        "branch": git("symbolic-ref", "-q", "HEAD"),
        "index": git("ls-files", "-s"),
        "status": git("status", "--porcelain", "--untracked-files=all"),
        "diff_cached": git("diff", "--cached", "--binary"),
        "diff": git("diff", "--binary"),
        "files": files,
        "worktrees": git("worktree", "list", "--porcelain"),
    }


def churnops(project: Path, *args: str, check: bool = False, **kw) -> subprocess.CompletedProcess[str]:
    """Run the ``churnops`` CLI in ``project``."""
    return run(["churnops", *args], project, check=check, **kw)


def empty_cache(project: Path) -> None:
    shutil.rmtree(project / ".dvc" / "cache")


@pytest.fixture
def stop_processes() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts; terminated (then killed) at teardown, even on failure."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(project: Path, token: str, procs: list[subprocess.Popen], timeout: float = 60) -> str:
    """Start ``churnops serve`` on 127.0.0.1 in ``project``; return its URL once /health answers."""
    port = free_port()
    log = project.parent / f"service-{port}.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                "churnops",
                "serve",
                "--repo",
                str(project),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-path",
                str(project.parent / f"predictions-{port}.jsonl"),
            ],
            cwd=project,
            env={**env(), "CHURNOPS_ADMIN_TOKEN": token},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"churnops serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"churnops serve did not answer /health within {timeout}s:\n{log.read_text()}")


def health_version(url: str) -> str:
    return httpx.get(f"{url}/health", timeout=10, trust_env=False).json()["model_version"]
