"""``--rebuild``: reproduce a version's outputs in a temporary worktree, accepted only bit for bit.

When a model is in neither the DVC cache nor the remote, the commit that built it still pins
everything needed to build it again (code, params, ``dvc.lock``): the pipeline reproduces bit
for bit. The worktree (``<git dir>/churnops-rebuild/``) gets an empty DVC cache of its own, so
every stage really runs, and nothing reaches the project's cache unless every output hash
equals what that commit's ``dvc.lock`` records. Runs under the repository lock, so a leftover
worktree is always a dead run's and is removed first.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from churnops.core import paths
from churnops.core.errors import LockfileError, ModelUnavailableError
from churnops.core.lockfile import parse_lock
from churnops.versioning import champion
from churnops.versioning.faults import fault
from churnops.versioning.git import git, git_dir, held_fds, show_file
from churnops.versioning.versions import Version

FOLDER = "churnops-rebuild"
PINNED_INPUTS = (champion.KEY,)
"""Params whose value is the md5 of a model a stage reads from the DVC cache (the champion)."""


def dvc(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m dvc ARGS`` with this interpreter, holding the repository lock (inherited)."""
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=cwd,
        env={**os.environ, "DVC_NO_ANALYTICS": "1", **env},
        text=True,
        capture_output=True,
        check=False,
        pass_fds=held_fds(),
    )


def dvc_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The first ``ERROR`` line of a failed DVC command (or its first line)."""
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or [f"exit status {proc.returncode}"])[0]


def tool_env(worktree: Path) -> dict[str, str]:
    """Stage commands say ``python``: make it this interpreter, importing the worktree's code first."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # A revision whose dvc.yaml ran `python stages/x.py` would otherwise import the installed
        # (editable: the main work tree's) churnops instead of the revision's own.
        "PYTHONPATH": os.pathsep.join(p for p in (str(worktree), os.environ.get("PYTHONPATH", "")) if p),
    }


def version_drift(root: Path, sha: str) -> list[str]:
    """Packages whose installed version differs from what ``requirements.lock`` pins at ``sha``."""
    data = show_file(root, sha, paths.REQUIREMENTS)
    if data is None:
        return []
    drift = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
        if not m:
            continue
        name, pinned = m.groups()
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            drift.append(f"{name} {installed} (pinned {pinned})")
    return drift


def mismatch_cause(root: Path, version: Version) -> str:
    """The likely reason a faithful re-run gave other bytes: library versions, else the platform."""
    drift = version_drift(root, version.commit)
    if drift:
        shown = ", ".join(drift[:3]) + (f" and {len(drift) - 3} more" if len(drift) > 3 else "")
        return (
            f"likely cause: installed library versions differ from {version.label}'s {paths.REQUIREMENTS}: {shown}; "
            f"install {version.label}'s versions and retry, or fetch the model from a DVC remote"
        )
    return (
        f"the installed libraries match {version.label}'s {paths.REQUIREMENTS}, so the likely cause is the platform "
        "(CPU and BLAS kernel, OS); fetch the model from a DVC remote that has it"
    )


def outputs(lock: Mapping[str, object]) -> dict[str, str]:
    """``{path: md5}`` of every output a parsed ``dvc.lock`` records."""
    result: dict[str, str] = {}
    stages = lock.get("stages")
    for stage in stages.values() if isinstance(stages, dict) else []:
        for out in (stage or {}).get("outs") or [] if isinstance(stage, dict) else []:
            if isinstance(out, dict) and isinstance(out.get("path"), str):
                result[out["path"]] = str(out.get("md5") or "")
    return result


def pinned_inputs(lock: Mapping[str, object]) -> set[str]:
    """The md5s a recorded run read from the DVC cache by name: the :data:`PINNED_INPUTS` params."""
    found: set[str] = set()
    stages = lock.get("stages")
    for stage in stages.values() if isinstance(stages, dict) else []:
        params = stage.get("params") if isinstance(stage, dict) else None
        for values in params.values() if isinstance(params, dict) else []:
            for key in PINNED_INPUTS:
                value = values.get(key) if isinstance(values, dict) else None
                if isinstance(value, str):
                    found.add(value)
    return found


def remove_worktrees(root: Path, folder: Path) -> None:
    """Unregister and delete every ``git worktree`` under ``folder``, then ``folder`` itself."""
    listing = git(["worktree", "list", "--porcelain", "-z"], root, check=False).decode()
    for item in listing.split("\0"):
        if item.startswith("worktree "):
            path = Path(item.removeprefix("worktree "))
            if path == folder or folder in path.parents:
                # A `git worktree add` killed half-way leaves its worktree locked ("initializing").
                git(["worktree", "unlock", str(path)], root, check=False)
                git(["worktree", "remove", "--force", "--force", str(path)], root, check=False)
    if folder.exists():
        shutil.rmtree(folder)
    git(["worktree", "prune"], root, check=False)


def rebuild(root: Path, version: Version, log: Callable[[str], None]) -> int:
    """Reproduce ``version.commit``'s pipeline in a temporary worktree; the objects added to the cache.

    Raises ModelUnavailableError, nothing changed, when the rebuild failed or gave other hashes.
    """
    from dvc.repo import Repo

    data = show_file(root, version.commit, paths.LOCK)
    try:
        lock = parse_lock(data or b"", f"{version.commit[:8]}:{paths.LOCK}")
        expected = outputs(lock)
    except LockfileError as err:
        raise ModelUnavailableError(f"cannot rebuild {version.label}: {err}") from None
    tmp = git_dir(root) / FOLDER
    remove_worktrees(root, tmp)
    worktree = tmp / "worktree"
    try:
        tmp.mkdir(parents=True)
        git(["worktree", "add", "--detach", "--quiet", str(worktree), version.commit], root)
        fault("worktree-added")
        log(f"rebuilding {version.label} ({version.commit[:8]}) with `dvc repro` in a temporary worktree")
        # DVC keeps per-repository state under a site cache dir; keep the throw-away repo's in tmp.
        env = {**tool_env(worktree), "DVC_SITE_CACHE_DIR": str(tmp / "site-cache")}
        cache = dvc(["cache", "dir"], worktree, env)
        if cache.returncode != 0:
            raise ModelUnavailableError(f"rebuilding {version.label}: dvc cache dir failed: {dvc_error(cache)}")
        objects = Path(cache.stdout.strip()) / "files" / "md5"
        with Repo(str(root)) as repo:
            ours = Path(repo.cache.local.path)
        # The empty cache makes every stage run; the models the run read by md5 (not outputs of
        # the pipeline) are inputs, given as they are: the champion a verdict is judged against.
        for md5 in pinned_inputs(lock):
            if (ours / md5[:2] / md5[2:]).is_file():
                copy_objects(ours, objects, only=md5)
        proc = dvc(["repro", "--quiet"], worktree, env)
        if proc.returncode != 0:
            raise ModelUnavailableError(f"rebuilding {version.label} failed: {dvc_error(proc)}; nothing was changed")
        rebuilt = outputs(parse_lock((worktree / paths.LOCK).read_bytes()))
        wrong = [
            f"{path}: recorded {md5[:12]}, rebuilt {rebuilt.get(path, 'nothing')[:12]}"
            for path, md5 in sorted(expected.items())
            if rebuilt.get(path) != md5
        ]
        if wrong:
            raise ModelUnavailableError(
                f"rebuilding {version.label} did not reproduce its recorded hashes ({'; '.join(wrong)}); "
                f"{mismatch_cause(root, version)}; nothing was changed"
            )
        return copy_objects(objects, ours)
    finally:
        remove_worktrees(root, tmp)


def copy_objects(src: Path, dest: Path, only: str | None = None) -> int:
    """Copy content-addressed files (all, or the object ``only``) absent from ``dest``; each lands
    atomically and read-only."""
    copied = 0
    found = [src / only[:2] / only[2:]] if only else src.rglob("*")
    for path in sorted(p for p in found if p.is_file()):
        target = dest / path.relative_to(src)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(path, tmp)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
        copied += 1
    return copied
