"""Helpers of the workflow tests: the two-model history, the CLI, the registry, and the
"nothing changed" snapshot.

The fixtures that build the history live in ``tests/conftest.py``; what a test
module imports lives here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.utils.project import run

V2_PARAMS = {"train.logreg.C": 0.1}
"""What ``v2`` changes in params.yaml (``v1`` is the fixture params' model)."""
CODE_EDITS = {
    "churnops/core/errors.py": "# v2: a comment in code that the commands and the service import\n",
    "stages/evaluate.py": "# v2: a comment, so the stage's code hash differs from v1's\n",
}
"""What ``v2`` changes in code: a rollback to ``v1`` must leave both in place."""


@dataclass(frozen=True)
class History:
    """A project copy with tags ``v1`` and ``v2`` (HEAD, prod), and the model md5 of each."""

    root: Path
    v1: str
    v2: str


def snapshot(project: Path) -> dict[str, object]:
    """Everything of the work tree a deployment must leave exactly as it was: HEAD, index, files."""

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


def churnops(project: Path, *args: str, check: bool = False, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run the ``churnops`` CLI in ``project``."""
    return run(["churnops", *args], project, check=check, **kw)


def prod(project: Path) -> str | None:
    """The md5 the registry branch names as prod (``None``: no registry, or no prod)."""
    proc = run(["git", "show", "churnops/registry:registry.json"], project, check=False)
    if proc.returncode != 0:
        return None
    entry = json.loads(proc.stdout)["stages"].get("prod")
    return None if entry is None else str(entry["md5"])


def registry_log(project: Path) -> list[str]:
    """The registry's commit subjects, newest first."""
    proc = run(["git", "log", "--format=%s", "churnops/registry"], project, check=False)
    return proc.stdout.splitlines() if proc.returncode == 0 else []


def cache_object(project: Path, md5: str) -> Path:
    """Where the project's DVC cache keeps ``md5``."""
    return project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def empty_cache(project: Path) -> None:
    """Delete the project's DVC cache (the objects then exist only in a remote, if anywhere)."""
    shutil.rmtree(project / ".dvc" / "cache")
