"""Factories for end-to-end tests: a throw-away copy of this project as its own Git repo.

The copy is taken from the working tree (tracked and untracked, not ignored files), so
the tests exercise the code as it is, committed or not. Its ``params.yaml`` is never the
workspace's, which the user edits: it is ``tests/utils/params.yaml`` (the shipped file, at
the defaults of ``churnops/core/params.py``, comments and all) with small row counts, so a
whole ``dvc repro`` takes seconds and a test's outcome does not depend on the user's knobs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

FIXTURE_PARAMS = Path(__file__).with_name("params.yaml")
"""The params every test project starts from: the defaults, laid out as the shipped file."""

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


def fixture_params() -> str:
    """The text of the fixture ``params.yaml`` (see the module docstring)."""
    return FIXTURE_PARAMS.read_text()


_KEY_LINE = re.compile(
    r"^(?P<indent> *)(?P<key>[A-Za-z_]\w*):(?P<sep> *)(?P<value>[^#\n]*?)(?P<pad> *)(?P<comment>#.*)?$"
)


def _set_line(text: str, dotted: str, value: Any) -> str | None:
    """``text`` with the scalar at ``dotted`` replaced in place (comments kept), or None."""
    lines = text.splitlines(keepends=True)
    stack: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        m = _KEY_LINE.match(line.rstrip("\n"))
        if not m:
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m["key"]))
        if ".".join(k for _, k in stack) != dotted or not m["value"]:
            continue
        new = yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()
        pad = " " * max(1, len(m["value"]) + len(m["pad"]) - len(new)) if m["comment"] else ""
        lines[i] = f"{m['indent']}{m['key']}:{m['sep']}{new}{pad}{m['comment'] or ''}\n"
        return "".join(lines)
    return None


def set_params(project: Path, values: Mapping[str, Any]) -> None:
    """Set dotted keys in ``params.yaml``, editing the lines in place like a person would.

    Comments and number formats elsewhere survive (the docs' walkthrough shows ``git diff``
    of this file); a key that is not a one-line scalar falls back to rewriting the file.
    """
    path = project / "params.yaml"
    text = path.read_text()
    for dotted, value in values.items():
        edited = _set_line(text, dotted, value)
        if edited is not None and _get(yaml.safe_load(edited), dotted) == value:
            text = edited
            continue
        data = yaml.safe_load(text)
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
        text = yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)


def _get(data: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return _MISSING
        data = data[key]
    return data


_MISSING = object()


def working_tree_files(root: Path = REPO_ROOT) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.decode()
    return [p for p in out.split("\0") if p and (root / p).is_file()]


def make_project(dest: Path, params: Mapping[str, Any] | None = None, commit: bool = True) -> Path:
    """Copy the project into ``dest`` as a fresh Git repo with small params.

    ``dvc.lock`` and ``params.yaml`` are left out: they are the user's, at full size. The
    copy gets the fixture params (small) and no lock; its first ``dvc repro`` writes one.
    Its ``promote.champion`` is null (the fixture's): the first model has nothing to beat.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for rel in working_tree_files():
        if rel in ("dvc.lock", "params.yaml"):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    (dest / "params.yaml").write_text(fixture_params())
    set_params(dest, {**SMALL_PARAMS, **(params or {})})
    run(["git", "init", "-q", "-b", "main"], dest)
    if commit:
        run(["git", "add", "-A"], dest)
        run(["git", "commit", "-q", "-m", "initial: churnops project"], dest)
    return dest


def build(project: Path) -> Path:
    """Run the pipeline in a project copy and commit the lock, as the shipped repo has it."""
    run(["dvc", "repro", "--quiet"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "pipeline: first accepted model"], project)
    return project


def fresh_clone(built: Path, dest: Path) -> Path:
    """What a new user gets from ``git clone``: code, params, the committed lock and metrics, and
    the model registry; no data, no model, no DVC cache (those come from ``dvc repro`` or a DVC
    remote). The Git remote is dropped so that nothing can push into the template; the registry
    branch it brought stays, as a local branch."""
    run(["git", "clone", "-q", str(built), str(dest)], built.parent)
    registry = "refs/remotes/origin/churnops/registry"
    if run(["git", "rev-parse", "--verify", "--quiet", registry], dest, check=False).returncode == 0:
        run(["git", "branch", "churnops/registry", registry], dest)
    run(["git", "remote", "remove", "origin"], dest)
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
                return str(out["md5"])
    raise KeyError(path)


def once_per_run(
    factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict[str, str]]
) -> tuple[Path, dict[str, str]]:
    """``build(dest)`` run once per test run, shared by every xdist worker: ``(dest, what it returned)``.

    The first worker to ask builds under a file lock; the others wait, then read the result.
    ``done.json`` is written last, so a build that failed half-way is rebuilt by the next
    worker rather than reused.
    """
    base = factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        base = base.parent  # the run's directory, above every worker's own
    where = base / f"shared-{name}"
    done = where / "done.json"
    with FileLock(f"{where}.lock"):
        if not done.exists():
            shutil.rmtree(where, ignore_errors=True)
            where.mkdir()
            done.write_text(json.dumps(build(where / "project")))
    facts: dict[str, str] = json.loads(done.read_text())
    return where / "project", facts
