"""What a rollback to REV restores, computed from Git objects only (nothing is touched).

What is restored is the *pipeline state* of REV, the closure that makes ``dvc status``
clean and ``dvc repro`` a no-op afterwards:

- from Git: ``dvc.yaml``, the params files, ``dvc.lock``, the outputs Git tracks
  (``cache: false`` metrics and plots) and every Git-tracked dependency ``dvc.lock``
  pins (the stage scripts and the ``churnops`` modules they import). Only files that
  differ change; code that is no stage's dependency (the service, the CLI) stays current.
- from the DVC cache: every cached output of REV (data and model).

Why code too: ``dvc.lock`` records the hash of each stage's code. Restoring REV's lock
with today's code would leave a lock that describes no run that ever happened, and
``dvc status`` would (rightly) report changed dependencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnops.core import paths
from churnops.core.errors import DirtyTreeError, LockfileError, RollbackError
from churnops.core.lockfile import LockedModel, locked_model, parse_lock
from churnops.versioning.git import git, show_file, tracked


@dataclass(frozen=True)
class Plan:
    """What a rollback to ``rev`` restores, computed from Git objects only."""

    rev: str
    sha: str
    model: LockedModel
    lock: Mapping[str, Any]
    git_files: tuple[str, ...]
    """Files made identical to REV (created, rewritten or deleted) through Git."""
    cached_outs: Mapping[str, str]
    """REV's DVC-cached outputs: path -> md5 (``.dir`` for directories)."""
    code_files: frozenset[str] = frozenset()
    """The Git-tracked stage dependencies among ``git_files`` (code, not params or outputs)."""

    @property
    def object_ids(self) -> list[str]:
        return sorted(set(self.cached_outs.values()))


def resolve_commit(root: Path, rev: str) -> str:
    """The full sha of ``rev`` (tag, branch, sha, ``HEAD~2``...).

    Raises:
        RollbackError: ``rev`` names no commit.
    """
    if not rev or rev.startswith("-"):
        raise RollbackError(f"invalid revision {rev!r}")
    sha = git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], root, check=False)
    sha_text = sha.decode().strip()
    if not sha_text:
        raise RollbackError(f"unknown revision {rev!r} (not a tag, branch or commit of {root})")
    return sha_text


def _lock_at(root: Path, rev: str, sha: str) -> dict[str, Any]:
    data = show_file(root, sha, paths.LOCK)
    if data is None:
        raise RollbackError(f"{rev} has no {paths.LOCK}: it records no model to roll back to")
    try:
        return parse_lock(data.decode("utf-8", errors="replace"), f"{rev}:{paths.LOCK}")
    except LockfileError as err:
        raise RollbackError(str(err)) from None


def under(files: Iterable[str], path: str) -> list[str]:
    """The files that are ``path`` itself or inside the directory ``path``."""
    path = path.rstrip("/")
    return [f for f in files if f == path or f.startswith(path + "/")]


def stages(lock: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The stage records of a parsed ``dvc.lock`` (malformed ones skipped)."""
    for stage in (lock.get("stages") or {}).values():
        if isinstance(stage, dict):
            yield stage


def entries(stage: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    """The ``deps`` or ``outs`` entries of a stage record that name a path."""
    for entry in stage.get(key) or []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            yield entry


def current_lock(root: Path) -> dict[str, Any]:
    """The workspace's parsed ``dvc.lock``, or an empty one if absent or unreadable."""
    try:
        return parse_lock((root / paths.LOCK).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, LockfileError):
        return {"stages": {}}


def cached_md5s(lock: Mapping[str, Any]) -> dict[str, str]:
    """``{path: md5}`` of every output a lock records."""
    return {o["path"]: str(o.get("md5") or "") for s in stages(lock) for o in entries(s, "outs")}


def plan_rollback(root: Path, rev: str) -> Plan:
    """Work out everything a rollback to ``rev`` restores, without touching the workspace.

    Raises:
        RollbackError: unknown revision, or its ``dvc.lock`` records no model.
    """
    sha = resolve_commit(root, rev)
    lock = _lock_at(root, rev, sha)
    try:
        model = locked_model(lock, paths.MODEL, f"{rev}:{paths.LOCK}")
    except LockfileError:
        raise RollbackError(f"{rev} records no model: its {paths.LOCK} has no {paths.MODEL} output") from None

    at_rev = tracked(root, sha)
    in_index = tracked(root, None)
    now = current_lock(root)

    outs = [o for s in stages(lock) for o in entries(s, "outs")]
    produced = {o["path"] for o in outs}
    # An output Git tracks is a `cache: false` one (metrics, plots); the others live in the DVC cache.
    cached = {o["path"]: str(o.get("md5") or "") for o in outs if not under(at_rev, o["path"])}
    if missing_md5 := sorted(p for p, md5 in cached.items() if not md5):
        raise RollbackError(f"{rev}:{paths.LOCK} records no hash for {', '.join(missing_md5)}")

    roots = {paths.PIPELINE, paths.LOCK}
    params_files = {str(name) for stage in stages(lock) for name in (stage.get("params") or {})}
    deps = {d["path"] for stage in stages(lock) for d in entries(stage, "deps") if d["path"] not in produced}
    roots |= params_files | deps
    code = {f for path in deps - params_files for f in under(at_rev, path)}
    git_outs = [o["path"] for o in outs if o["path"] not in cached]
    git_outs += [o["path"] for s in stages(now) for o in entries(s, "outs") if under(in_index, o["path"])]

    files: set[str] = set()
    for path in roots:
        # Dependencies and pipeline files come from REV; a file REV does not have is left alone.
        files.update(under(at_rev, path))
    for path in git_outs:
        # Tracked outputs are made identical to REV's: created, rewritten or deleted.
        files.update(under(at_rev, path))
        files.update(under(in_index, path))
    return Plan(
        rev=rev,
        sha=sha,
        model=model,
        lock=lock,
        git_files=tuple(sorted(files)),
        cached_outs=cached,
        code_files=frozenset(code),
    )


def dirty_paths(root: Path, plan: Plan, changed: Mapping[str, str] | None = None) -> list[str]:
    """Uncommitted work a rollback could overwrite.

    Tracked changes anywhere (staged or not), untracked files where the rollback writes,
    and, given ``changed`` (``dvc status``'s changed outputs), DVC outputs modified since
    ``dvc.lock`` recorded them (their bytes may exist nowhere else: ``dvc checkout``
    would refuse to delete them).
    """
    out = git(["status", "--porcelain=v1", "-z", "--untracked-files=all"], root).decode()
    dirty: list[str] = []
    items = iter(out.split("\0"))
    restored = set(plan.git_files)
    for entry in items:
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":
            next(items, None)  # a rename is followed by its source path
        if code == "??":
            if path in restored or any(path.startswith(f.rstrip("/") + "/") for f in restored):
                dirty.append(f"{path} (untracked)")
            continue
        dirty.append(path)
    for path, state in (changed or {}).items():
        if state == "modified":
            dirty.append(f"{path} (modified DVC output)")
    return dirty


def refuse_dirty(dirty: list[str]) -> None:
    """Raise if there is uncommitted work a rollback could overwrite.

    Raises:
        DirtyTreeError: naming up to 8 of the paths.
    """
    if dirty:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise DirtyTreeError(f"the working tree has uncommitted changes ({shown}); commit or stash them")
