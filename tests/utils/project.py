"""Factories for end-to-end tests: a throw-away copy of this project as its own Git repo.

The copy is taken from the working tree (tracked and untracked, not ignored files), so
the tests exercise the code as it is, committed or not. It gets small ``params.yaml``
values so a whole ``dvc repro`` takes seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

SMALL_PARAMS: dict[str, Any] = {
    "generate.rows": 4000,
    "generate.traffic.rows": 400,
}


def env() -> dict[str, str]:
    """A subprocess environment: the venv first on PATH, a fixed Git identity, no telemetry."""
    e = dict(os.environ)
    e["PATH"] = f"{VENV_BIN}{os.pathsep}{e.get('PATH', '')}"
    e.update(
        {
            "GIT_AUTHOR_NAME": "churnops test",
            "GIT_AUTHOR_EMAIL": "test@churnops.invalid",
            "GIT_COMMITTER_NAME": "churnops test",
            "GIT_COMMITTER_EMAIL": "test@churnops.invalid",
            "GIT_CONFIG_NOSYSTEM": "1",
            "DVC_NO_ANALYTICS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    e.pop("GIT_DIR", None)
    e.pop("GIT_WORK_TREE", None)
    return e


def run(
    cmd: Sequence[str] | str,
    cwd: Path,
    check: bool = True,
    timeout: float = 300,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (a list, or a string for the shell) and capture its output."""
    e = env()
    if extra_env:
        e.update(extra_env)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=e,
        shell=isinstance(cmd, str),
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {cmd}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def set_params(project: Path, values: Mapping[str, Any]) -> None:
    """Set dotted keys in ``params.yaml`` (keeps the rest of the file's values)."""
    path = project / "params.yaml"
    data = yaml.safe_load(path.read_text())
    for dotted, value in values.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def working_tree_files(root: Path = REPO_ROOT) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.decode()
    return [p for p in out.split("\0") if p and (root / p).is_file()]


def make_project(dest: Path, params: Mapping[str, Any] | None = None, commit: bool = True) -> Path:
    """Copy the project into ``dest`` as a fresh Git repo with small params.

    ``dvc.lock`` is left out: it belongs to the full-size params, so the copy starts
    without one and its first ``dvc repro`` writes it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for rel in working_tree_files():
        if rel == "dvc.lock":
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    set_params(dest, {**SMALL_PARAMS, **(params or {})})
    run(["git", "init", "-q", "-b", "main"], dest)
    if commit:
        run(["git", "add", "-A"], dest)
        run(["git", "commit", "-q", "-m", "initial: churnops project"], dest)
    return dest


def clone_built(template: Path, dest: Path) -> Path:
    """Copy an already-built project (repo, workspace and DVC cache) to ``dest``."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def lock_md5(project: Path, path: str = "models/model.json") -> str:
    """The md5 that the project's dvc.lock records for ``path``."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs") or []:
            if out["path"] == path:
                return out["md5"]
    raise KeyError(path)
