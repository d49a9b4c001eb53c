"""``--rebuild``: reproduce REV's outputs in a temporary worktree, accepted only bit for bit.

The worktree lives in ``<git dir>/churnops-rollback/rebuild/`` and the journal records
the run before it is created, so a rebuild that is killed leaves nothing the next run's
recovery does not remove (the registered worktree included).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import sys
from pathlib import Path

from churnops.core.errors import RollbackError
from churnops.versioning.git import git, show_file
from churnops.versioning.rollback.dvcops import dvc, dvc_error
from churnops.versioning.rollback.faults import fault
from churnops.versioning.rollback.journal import Journal, Log, remove_rebuild_worktrees, shielded
from churnops.versioning.rollback.plan import Plan, cached_md5s, current_lock

REQUIREMENTS_LOCK = "requirements.lock"


def tool_env(worktree: Path | None = None) -> dict[str, str]:
    """Stage commands say ``python``: make it this interpreter, importing the worktree's code."""
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if worktree is not None:
        # The rebuild must run REV's modules. `python -m stages.x` already imports the
        # worktree's churnops; a REV whose dvc.yaml ran `python stages/x.py` would import
        # the installed (editable, main work tree) copy instead, so the worktree goes first.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(worktree), os.environ.get("PYTHONPATH", "")) if p)
    return env


def version_drift(root: Path, sha: str) -> list[str]:
    """Packages whose installed version differs from what ``requirements.lock`` pins at ``sha``."""
    data = show_file(root, sha, REQUIREMENTS_LOCK)
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


def mismatch_cause(root: Path, plan: Plan) -> str:
    """The likely reason a faithful re-run gave other bytes: library versions, else the platform."""
    drift = version_drift(root, plan.sha)
    if drift:
        shown = ", ".join(drift[:3]) + (f" and {len(drift) - 3} more" if len(drift) > 3 else "")
        return (
            f"likely cause: installed library versions differ from {plan.rev}'s {REQUIREMENTS_LOCK}: {shown}; "
            f"install {plan.rev}'s versions and retry, or fetch its outputs from a DVC remote"
        )
    return (
        f"the installed libraries match {plan.rev}'s {REQUIREMENTS_LOCK}, so the likely cause is the platform "
        "(CPU and BLAS kernel, OS) or a lock that no run of this pipeline produced; fetch its outputs from a "
        "DVC remote that has them"
    )


def rebuild(root: Path, plan: Plan, log: Log) -> int:
    """Reproduce REV's pipeline in a temporary worktree and add its outputs to the cache.

    The worktree gets its own, empty DVC cache, so every stage really runs, and nothing
    reaches the main cache unless every output hash equals what REV's ``dvc.lock`` records.

    Returns:
        The number of objects copied into the main cache.

    Raises:
        RollbackError: the rebuild failed or produced different hashes (nothing changed).
    """
    from dvc.repo import Repo

    journal = Journal(root)
    tmp = journal.rebuild
    journal.write({"phase": "rebuilding", "rev": plan.rev, "sha": plan.sha, "pid": os.getpid()})
    worktree = tmp / "worktree"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        git(["worktree", "add", "--detach", "--quiet", str(worktree), plan.sha], root)
        fault("worktree-added")
        log(f"rebuilding {plan.rev} ({plan.sha[:8]}) with `dvc repro` in a temporary worktree")
        # DVC keeps per-repository state under a site cache dir; keep the throw-away repo's in tmp.
        env = {**tool_env(worktree), "DVC_SITE_CACHE_DIR": str(tmp / "site-cache")}
        fault("dvc-repro")
        proc = dvc(["repro", "--quiet"], worktree, env=env)
        if proc.returncode != 0:
            raise RollbackError(f"rebuilding {plan.rev} failed: {dvc_error(proc)}; nothing was changed")
        rebuilt = cached_md5s(current_lock(worktree))
        expected = cached_md5s(plan.lock)
        wrong = [
            f"{path}: recorded {md5[:12]}, rebuilt {rebuilt.get(path, 'nothing')[:12]}"
            for path, md5 in sorted(expected.items())
            if rebuilt.get(path) != md5
        ]
        if wrong:
            raise RollbackError(
                f"rebuilding {plan.rev} did not reproduce its recorded hashes ({'; '.join(wrong)}); "
                f"{mismatch_cause(root, plan)}; nothing was changed"
            )
        cache = dvc(["cache", "dir"], worktree, env=env)
        if cache.returncode != 0:
            raise RollbackError(f"rebuilding {plan.rev}: dvc cache dir failed: {dvc_error(cache)}; nothing was changed")
        with Repo(str(root)) as repo:
            return copy_objects(Path(cache.stdout.strip()) / "files" / "md5", Path(repo.cache.local.path))
    finally:
        with shielded():
            remove_rebuild_worktrees(root, tmp)
            journal.clear()


def copy_objects(src: Path, dest: Path) -> int:
    """Copy content-addressed files absent from ``dest``; each lands atomically and read-only."""
    copied = 0
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
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
