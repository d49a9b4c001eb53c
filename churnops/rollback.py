"""Roll the workspace back to the model of an earlier revision, as one forward commit.

What is restored is the *pipeline state* of REV, the closure that makes ``dvc status``
clean and ``dvc repro`` a no-op afterwards:

- from Git: ``dvc.yaml``, the params files, ``dvc.lock``, the outputs Git tracks
  (``cache: false`` metrics and plots) and every Git-tracked dependency ``dvc.lock``
  pins (the stage scripts and the ``churnops`` modules they import). Only files that
  differ change; code that is no stage's dependency (the service, the CLI) stays current.
- from the DVC cache: every cached output of REV (data and model), fetched from the
  default remote first if the cache lacks it, or, with ``rebuild``, reproduced in a
  temporary ``git worktree`` at REV and accepted only if every hash matches.

Why code too: ``dvc.lock`` records the hash of each stage's code. Restoring REV's lock
with today's code would leave a lock that describes no run that ever happened, and
``dvc status`` would (rightly) report changed dependencies.

Nothing touches the workspace until every object REV needs is in the cache. Then a
:class:`Transaction` backs up the index, the files Git will rewrite and the outputs DVC
will replace; any failure after that point puts them all back byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnops.errors import ChurnopsError, LockfileError, ModelIntegrityError, RollbackError
from churnops.history import LOCK_PATH, file_md5, git, repo_root, show_file
from churnops.lockfile import MODEL_PATH, LockedModel, locked_model, parse_lock

ADMIN_TOKEN_ENV = "CHURNOPS_ADMIN_TOKEN"
PIPELINE_FILE = "dvc.yaml"

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- planning


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
    data = show_file(root, sha, LOCK_PATH)
    if data is None:
        raise RollbackError(f"{rev} has no {LOCK_PATH}: it records no model to roll back to")
    try:
        return parse_lock(data.decode("utf-8", errors="replace"), f"{rev}:{LOCK_PATH}")
    except LockfileError as err:
        raise RollbackError(str(err)) from None


def _tracked(root: Path, rev: str | None) -> set[str]:
    """Files Git tracks at ``rev`` (or in the index when ``rev`` is None)."""
    args = ["ls-tree", "-r", "-z", "--name-only", rev] if rev else ["ls-files", "-z"]
    return {p for p in git(args, root).decode().split("\0") if p}


def _under(files: Iterable[str], path: str) -> list[str]:
    """The files that are ``path`` itself or inside the directory ``path``."""
    path = path.rstrip("/")
    return [f for f in files if f == path or f.startswith(path + "/")]


def _stages(lock: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for stage in (lock.get("stages") or {}).values():
        if isinstance(stage, dict):
            yield stage


def _entries(stage: Mapping[str, Any], key: str) -> Iterator[Mapping[str, Any]]:
    for entry in stage.get(key) or []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            yield entry


def plan_rollback(root: Path, rev: str) -> Plan:
    """Work out everything a rollback to ``rev`` restores, without touching the workspace.

    Raises:
        RollbackError: unknown revision, or its ``dvc.lock`` records no model.
    """
    sha = resolve_commit(root, rev)
    lock = _lock_at(root, rev, sha)
    try:
        model = locked_model(lock, MODEL_PATH, f"{rev}:{LOCK_PATH}")
    except LockfileError:
        raise RollbackError(f"{rev} records no model: its {LOCK_PATH} has no {MODEL_PATH} output") from None

    at_rev = _tracked(root, sha)
    in_index = _tracked(root, None)
    current_lock = _current_lock(root)

    outs = [o for s in _stages(lock) for o in _entries(s, "outs")]
    produced = {o["path"] for o in outs}
    # An output Git tracks is a `cache: false` one (metrics, plots); the others live in the DVC cache.
    cached = {o["path"]: str(o.get("md5") or "") for o in outs if not _under(at_rev, o["path"])}
    if missing_md5 := sorted(p for p, md5 in cached.items() if not md5):
        raise RollbackError(f"{rev}:{LOCK_PATH} records no hash for {', '.join(missing_md5)}")

    roots = {PIPELINE_FILE, LOCK_PATH}
    params_files = {str(name) for stage in _stages(lock) for name in (stage.get("params") or {})}
    deps = {d["path"] for stage in _stages(lock) for d in _entries(stage, "deps") if d["path"] not in produced}
    roots |= params_files | deps
    code = {f for path in deps - params_files for f in _under(at_rev, path)}
    git_outs = [o["path"] for o in outs if o["path"] not in cached]
    git_outs += [o["path"] for s in _stages(current_lock) for o in _entries(s, "outs") if _under(in_index, o["path"])]

    files: set[str] = set()
    for path in roots:
        # Dependencies and pipeline files come from REV; a file REV does not have is left alone.
        files.update(_under(at_rev, path))
    for path in git_outs:
        # Tracked outputs are made identical to REV's: created, rewritten or deleted.
        files.update(_under(at_rev, path))
        files.update(_under(in_index, path))
    return Plan(
        rev=rev,
        sha=sha,
        model=model,
        lock=lock,
        git_files=tuple(sorted(files)),
        cached_outs=cached,
        code_files=frozenset(code),
    )


def _current_lock(root: Path) -> dict[str, Any]:
    try:
        return parse_lock((root / LOCK_PATH).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, LockfileError):
        return {"stages": {}}


def _cached_md5s(lock: Mapping[str, Any]) -> dict[str, str]:
    return {o["path"]: str(o.get("md5") or "") for s in _stages(lock) for o in _entries(s, "outs")}


# --------------------------------------------------------------------------- dvc


def dvc(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dvc ARGS`` with this interpreter (so the venv's DVC, whatever PATH says)."""
    e = dict(os.environ)
    e["DVC_NO_ANALYTICS"] = "1"
    if env:
        e.update(env)
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=e, text=True, capture_output=True, check=False
    )


def _dvc_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or [f"exit status {proc.returncode}"])[0]


def dvc_status(root: Path) -> dict[str, Any]:
    """``dvc status --json`` of the workspace: ``{}`` when outputs, deps and lock agree."""
    proc = dvc(["status", "--json"], root)
    if proc.returncode != 0:
        raise RollbackError(f"dvc status failed: {_dvc_error(proc)}")
    try:
        status = json.loads(proc.stdout or "{}")
    except ValueError:
        raise RollbackError("dvc status --json printed something that is not JSON") from None
    return status if isinstance(status, dict) else {}


def changed_outs(status: Mapping[str, Any]) -> dict[str, str]:
    """``{path: state}`` of the outputs ``dvc status`` reports (modified, deleted, not in cache)."""
    result: dict[str, str] = {}
    for items in status.values():
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                result.update(item.get("changed outs") or {})
    return result


def summarize_status(status: Mapping[str, Any]) -> str:
    parts = []
    for stage, items in status.items():
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, dict):
                for kind, paths in item.items():
                    if isinstance(paths, dict):
                        parts.extend(f"{stage}: {kind} {p} ({s})" for p, s in paths.items())
                    else:
                        parts.append(f"{stage}: {kind}")
            else:
                parts.append(f"{stage}: {item}")
    return "; ".join(parts)


@contextmanager
def _quiet_dvc_logs() -> Iterator[None]:
    """DVC warns about missing objects itself; we report them in one line of our own."""
    import logging

    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def missing_objects(root: Path, object_ids: Iterable[str]) -> list[str]:
    """The object ids (md5, or ``md5.dir`` with its entries) absent from the repo's DVC cache."""
    from dvc.repo import Repo

    missing = []
    with Repo(str(root)) as repo:
        odb = repo.cache.local
        for oid in object_ids:
            if not odb.exists(oid):
                missing.append(oid)
                continue
            if oid.endswith(".dir"):
                try:
                    entries = json.loads(Path(odb.oid_to_path(oid)).read_text())
                except (OSError, ValueError):
                    missing.append(oid)
                    continue
                if any(not odb.exists(str(e.get("md5"))) for e in entries if isinstance(e, dict)):
                    missing.append(oid)
    return missing


def default_remote(root: Path) -> str | None:
    """The name of the default DVC remote (``core.remote``), as the workspace configures it."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return repo.config.get("core", {}).get("remote")


def pull_objects(root: Path, object_ids: Iterable[str]) -> None:
    """Download objects from the default remote into the cache.

    This asks for the objects by hash with the *workspace's* remote configuration.
    ``dvc fetch`` of an old revision would read that revision's ``.dvc/config``, which
    may predate the remote (DVC then silently skips it).

    Raises:
        RollbackError: the remote is unreachable or misconfigured.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo

    with Repo(str(root)) as repo, _quiet_dvc_logs():
        try:
            repo.cloud.pull([HashInfo("md5", oid) for oid in object_ids])
        except DvcException as err:
            raise RollbackError(f"dvc remote: {err}") from None


# --------------------------------------------------------------------------- rebuild


def _tool_env(worktree: Path | None = None) -> dict[str, str]:
    """Stage commands say ``python``: make it this interpreter, importing the worktree's code."""
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if worktree is not None:
        # The rebuild must run REV's modules. `python -m stages.x` already imports the
        # worktree's churnops; a REV whose dvc.yaml ran `python stages/x.py` would import
        # the installed (editable, main work tree) copy instead, so the worktree goes first.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(worktree), os.environ.get("PYTHONPATH", "")) if p)
    return env


def rebuild(root: Path, plan: Plan, log: Log = _stderr) -> int:
    """Reproduce REV's pipeline in a temporary worktree and add its outputs to the cache.

    The worktree gets its own, empty DVC cache, so every stage really runs, and nothing
    reaches the main cache unless every output hash equals what REV's ``dvc.lock`` records.

    Returns:
        The number of objects copied into the main cache.

    Raises:
        RollbackError: the rebuild failed or produced different hashes (nothing changed).
    """
    from dvc.repo import Repo

    tmp = Path(tempfile.mkdtemp(prefix="churnops-rebuild-"))
    worktree = tmp / "worktree"
    try:
        git(["worktree", "add", "--detach", "--quiet", str(worktree), plan.sha], root)
        log(f"rebuilding {plan.rev} ({plan.sha[:8]}) with `dvc repro` in a temporary worktree")
        # DVC keeps per-repository state under a site cache dir; keep the throw-away repo's in tmp.
        env = {**_tool_env(worktree), "DVC_SITE_CACHE_DIR": str(tmp / "site-cache")}
        proc = dvc(["repro", "--quiet"], worktree, env=env)
        if proc.returncode != 0:
            raise RollbackError(f"rebuilding {plan.rev} failed: {_dvc_error(proc)}; nothing was changed")
        rebuilt = _cached_md5s(_current_lock(worktree))
        expected = _cached_md5s(plan.lock)
        wrong = [
            f"{path}: recorded {md5[:12]}, rebuilt {rebuilt.get(path, 'nothing')[:12]}"
            for path, md5 in sorted(expected.items())
            if rebuilt.get(path) != md5
        ]
        if wrong:
            raise RollbackError(
                f"rebuilding {plan.rev} did not reproduce its recorded hashes ({'; '.join(wrong)}); nothing was changed"
            )
        cache = dvc(["cache", "dir"], worktree, env=env)
        if cache.returncode != 0:
            raise RollbackError(f"rebuilding {plan.rev}: dvc cache dir failed: {_dvc_error(cache)}")
        with Repo(str(root)) as repo:
            return _copy_objects(Path(cache.stdout.strip()) / "files" / "md5", Path(repo.cache.local.path))
    finally:
        git(["worktree", "remove", "--force", str(worktree)], root, check=False)
        git(["worktree", "prune"], root, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_objects(src: Path, dest: Path) -> int:
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


# --------------------------------------------------------------------------- the transaction


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class Transaction:
    """Backs up what a rollback will change, and puts it back on failure.

    Saved: HEAD, the Git index file, the bytes of every Git file to be restored (or the
    fact that it was absent), and the DVC outputs to be replaced, which are *moved*
    aside (a rename: no copy of large data, inode and mtime kept, so DVC's state cache
    still recognises them when they return).
    """

    def __init__(self, root: Path, files: Iterable[str], outs: Iterable[str]) -> None:
        self.root = root
        self.files = sorted(set(files))
        self.outs = sorted(set(outs))
        git_dir = Path(git(["rev-parse", "--absolute-git-dir"], root).decode().strip())
        base = git_dir / "churnops-rollback"
        base.mkdir(exist_ok=True)
        self.backup = Path(tempfile.mkdtemp(dir=base))
        self.index = Path(git(["rev-parse", "--path-format=absolute", "--git-path", "index"], root).decode().strip())
        self.head = git(["rev-parse", "--verify", "HEAD"], root).decode().strip()
        self.saved_files: dict[str, Path | None] = {}
        self.moved_outs: dict[str, Path] = {}
        self.absent_outs: set[str] = set()
        self.index_state = "untouched"

    def begin(self) -> None:
        """Save everything; on an exception half-way, :meth:`undo` restores what was saved."""
        if self.index.exists():
            shutil.copy2(self.index, self.backup / "index")
        self.index_state = "saved" if self.index.exists() else "absent"
        for i, rel in enumerate(self.files):
            src = self.root / rel
            if src.is_file() or src.is_symlink():
                dest = self.backup / "files" / str(i)
                dest.parent.mkdir(exist_ok=True)
                shutil.copy2(src, dest, follow_symlinks=False)
                self.saved_files[rel] = dest
            else:
                self.saved_files[rel] = None
        for i, rel in enumerate(self.outs):
            src = self.root / rel
            if src.exists() or src.is_symlink():
                dest = self.backup / "outs" / str(i)
                dest.parent.mkdir(exist_ok=True)
                shutil.move(src, dest)
                self.moved_outs[rel] = dest
            else:
                self.absent_outs.add(rel)

    def undo(self) -> None:
        """Restore the work tree, index and HEAD as :meth:`begin` found them."""
        # Only outputs begin() dealt with: a failure half-way through it leaves the rest alone.
        for rel in self.outs:
            if rel not in self.moved_outs and rel not in self.absent_outs:
                continue
            _remove(self.root / rel)
            if rel in self.moved_outs:
                (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(self.moved_outs[rel], self.root / rel)
        for rel, saved in self.saved_files.items():
            target = self.root / rel
            _remove(target)
            if saved is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(saved, target, follow_symlinks=False)
        if self.index_state == "saved":
            shutil.copy2(self.backup / "index", self.index)
        elif self.index_state == "absent" and self.index.exists():
            self.index.unlink()
        if git(["rev-parse", "--verify", "HEAD"], self.root).decode().strip() != self.head:
            git(["update-ref", "-m", "churnops rollback: undo", "HEAD", self.head], self.root)
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.backup, ignore_errors=True)


# --------------------------------------------------------------------------- rollback


@dataclass
class RollbackResult:
    """What :func:`rollback` did."""

    rev: str
    sha: str
    md5: str
    restored: list[str] = field(default_factory=list)
    """Git files that changed (params, lock, metrics, and stage code if REV's differs)."""
    checked_out: list[str] = field(default_factory=list)
    fetched: int = 0
    rebuilt: int = 0
    commit: str | None = None
    noop: bool = False
    reload: dict[str, Any] | None = None
    code: list[str] = field(default_factory=list)
    """The pipeline code among ``restored``: REV's stages ran it, and dvc.lock pins its hash."""


def dirty_paths(root: Path, plan: Plan, status: Mapping[str, Any] | None = None) -> list[str]:
    """Uncommitted work a rollback could overwrite.

    Tracked changes anywhere (staged or not), untracked files where the rollback writes,
    and, given ``dvc status``, DVC outputs modified since ``dvc.lock`` recorded them (their
    bytes may exist nowhere else: ``dvc checkout`` would refuse to delete them).
    """
    out = git(["status", "--porcelain=v1", "-z", "--untracked-files=all"], root).decode()
    dirty: list[str] = []
    entries = iter(out.split("\0"))
    restored = set(plan.git_files)
    for entry in entries:
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":
            next(entries, None)  # a rename is followed by its source path
        if code == "??":
            if path in restored or any(path.startswith(f.rstrip("/") + "/") for f in restored):
                dirty.append(f"{path} (untracked)")
            continue
        dirty.append(path)
    for path, state in changed_outs(status or {}).items():
        if state == "modified":
            dirty.append(f"{path} (modified DVC output)")
    return dirty


def _refuse_dirty(dirty: list[str]) -> None:
    if dirty:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise RollbackError(f"the working tree has uncommitted changes ({shown}); commit or stash them, or use --force")


def _check_reload_args(reload_url: str | None, admin_token: str | None) -> None:
    if reload_url is None:
        return
    if not reload_url.startswith(("http://", "https://")):
        raise RollbackError(f"--reload-url {reload_url!r}: expected an http:// or https:// URL")
    if not admin_token:
        raise RollbackError(f"--reload-url needs the service's admin token in ${ADMIN_TOKEN_ENV}; nothing was changed")


def rollback(
    repo: str | Path,
    rev: str,
    *,
    commit: bool = True,
    force: bool = False,
    rebuild_missing: bool = False,
    reload_url: str | None = None,
    admin_token: str | None = None,
    log: Log = _stderr,
) -> RollbackResult:
    """Restore REV's model with its params, lock, metrics and pipeline code; commit it.

    Raises:
        RollbackError: refused (dirty tree, no model at REV, data unavailable) or failed;
            the work tree, index and HEAD are then exactly as before. A failed service
            reload is reported after the commit, which stands.
    """
    _check_reload_args(reload_url, admin_token)
    root = repo_root(repo)
    plan = plan_rollback(root, rev)
    result = RollbackResult(rev=rev, sha=plan.sha, md5=plan.model.md5)

    if not force:
        _refuse_dirty(dirty_paths(root, plan))
    try:
        before = dvc_status(root)
    except RollbackError as err:
        if not force:
            raise
        log(f"warning: {err} (continuing: --force)")
        before = {}
    if not force:
        _refuse_dirty(dirty_paths(root, plan, before))

    # 1. Make sure the cache holds every object REV needs, before anything is touched.
    missing = missing_objects(root, plan.object_ids)
    remote = default_remote(root) if missing else None
    if missing and remote:
        log(f"fetching {len(missing)} object(s) of {rev} from the DVC remote {remote!r}")
        try:
            pull_objects(root, missing)
        except RollbackError as err:
            if not rebuild_missing:
                raise RollbackError(f"{err}; nothing was changed") from None
            log(f"warning: {err}")
        still = missing_objects(root, missing)
        result.fetched = len(missing) - len(still)
        missing = still
    if missing and rebuild_missing:
        result.rebuilt = rebuild(root, plan, log)
        missing = missing_objects(root, missing)
    if missing:
        where = (
            f"neither in the DVC cache nor in the remote {remote!r}"
            if remote
            else "not in the DVC cache, and no default DVC remote is configured"
        )
        by_path = {md5: path for path, md5 in plan.cached_outs.items()}
        missing.sort(key=lambda m: (by_path.get(m) != MODEL_PATH, by_path.get(m, "")))  # the model first
        names = ", ".join(f"{by_path.get(m, '?')} ({m[:12]})" for m in missing[:6])
        if len(missing) > 6:
            names += f" and {len(missing) - 6} more"
        hint = "" if rebuild_missing else " (`--rebuild` reproduces it from REV's pipeline)"
        raise RollbackError(f"{rev}: {names}: {where}; nothing was changed{hint}")

    # 2. Change the workspace inside a transaction.
    current = _cached_md5s(_current_lock(root))
    stale = {p for p, s in changed_outs(before).items() if s in ("modified", "deleted")}
    targets = sorted(
        p for p, md5 in plan.cached_outs.items() if current.get(p) != md5 or p in stale or not (root / p).exists()
    )
    gitignores = sorted({str(Path(p).parent / ".gitignore") for p in plan.cached_outs if Path(p).parent != Path(".")})
    tx = Transaction(root, [*plan.git_files, *gitignores], targets)
    try:
        tx.begin()
        if plan.git_files:
            git(["restore", f"--source={plan.sha}", "--staged", "--worktree", "--", *plan.git_files], root)
        if targets:
            proc = dvc(["checkout", "--quiet", *targets], root)
            if proc.returncode != 0:
                raise RollbackError(f"dvc checkout failed: {_dvc_error(proc)}")
        got = file_md5(root / MODEL_PATH)
        if got != plan.model.md5:
            raise ModelIntegrityError(
                f"{MODEL_PATH} has md5 {got} after checkout, but {rev} records {plan.model.md5} (corrupted cache?)"
            )
        after = dvc_status(root)
        if after and not force:
            raise RollbackError(f"`dvc status` is not clean after restoring {rev}: {summarize_status(after)}")
        if after:
            log(f"warning: `dvc status` is not clean (--force kept local changes): {summarize_status(after)}")
        changed = git(["diff", "--cached", "--name-only", "-z", "HEAD", "--", *plan.git_files], root).decode()
        # dvc checkout adds .gitignore entries for outputs the current tree did not have.
        ignores = [g for g in gitignores if _is_modified(root, g)]
        if ignores:
            git(["add", "--", *ignores], root)
        result.restored = sorted({p for p in changed.split("\0") if p} | set(ignores))
        result.checked_out = targets
        result.code = [f for f in result.restored if f in plan.code_files]
        if not result.restored:
            result.noop = True
        elif commit:
            message = f"rollback: model {plan.model.md5} from {rev}"
            body = f"Restored {MODEL_PATH} with the params, dvc.lock and metrics of commit {plan.sha}."
            git(["commit", "--quiet", "-m", message, "-m", body, "--", *result.restored], root)
            result.commit = git(["rev-parse", "HEAD"], root).decode().strip()
    except BaseException as err:
        try:
            tx.undo()
        except Exception as undo_err:  # never lose the backup if putting it back fails
            raise RollbackError(
                f"{err}; restoring the previous state also failed ({undo_err}); backup kept in {tx.backup}"
            ) from err
        if isinstance(err, RollbackError):
            raise RollbackError(f"{err}; nothing was changed") from None
        if isinstance(err, ChurnopsError):
            raise RollbackError(f"{err}; nothing was changed") from err
        raise
    tx.discard()

    if reload_url is not None and admin_token:
        try:
            result.reload = reload_service(reload_url, admin_token, plan.model.md5)
        except RollbackError as err:
            done = f"committed {result.commit[:8]}" if result.commit else "the workspace is rolled back"
            raise RollbackError(f"{done}, but the service did not reload: {err}") from None
    return result


def _is_modified(root: Path, path: str) -> bool:
    out = git(["status", "--porcelain=v1", "--", path], root).decode()
    return bool(out.strip())


# --------------------------------------------------------------------------- service reload


def _trust_env(url: str) -> bool:
    """Proxy variables are for the outside world; a loopback service is reached directly."""
    import httpx

    host = httpx.URL(url).host
    return host not in {"127.0.0.1", "localhost", "::1"}


def reload_service(
    url: str,
    token: str,
    expected_md5: str,
    *,
    transport: Any = None,
    timeout: float = 60.0,
    health_attempts: int = 10,
    health_interval: float = 0.5,
) -> dict[str, Any]:
    """Ask a running service to reload its model and check that ``/health`` reports it.

    ``POST {url}/admin/reload`` (bearer token) answers ``{"status": "reloaded",
    "model_version": ..., "previous_version": ...}``; then ``GET {url}/health`` must report
    ``model_version == expected_md5``. /health is polled a few times because a
    multi-worker service may answer from a worker that is still swapping models.

    Raises:
        RollbackError: unreachable, token refused, or the service serves another model.
    """
    import httpx

    base = url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout, transport=transport, trust_env=_trust_env(base)) as client:
            resp = client.post(f"{base}/admin/reload", headers={"Authorization": f"Bearer {token}"})
            if resp.status_code in (401, 403):
                raise RollbackError(f"{base}/admin/reload refused the admin token (HTTP {resp.status_code})")
            if resp.status_code == 404:
                raise RollbackError(f"{base}/admin/reload not found (HTTP 404): is the service's admin token set?")
            if resp.status_code != 200:
                raise RollbackError(f"{base}/admin/reload answered HTTP {resp.status_code}: {resp.text[:200]}")
            reloaded = _json_object(resp, "/admin/reload")
            version = None
            for attempt in range(health_attempts):
                health = client.get(f"{base}/health")
                if health.status_code == 200:
                    version = _json_object(health, "/health").get("model_version")
                    if version == expected_md5:
                        return {"reload": reloaded, "health_model_version": version}
                if attempt + 1 < health_attempts:
                    time.sleep(health_interval)
            raise RollbackError(f"{base}/health reports model_version {version!r}, expected {expected_md5}")
    except httpx.HTTPError as err:
        raise RollbackError(f"cannot reach {base}: {err.__class__.__name__}: {err}") from None


def _json_object(resp: Any, what: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise RollbackError(f"{what} did not answer JSON") from None
    if not isinstance(data, dict):
        raise RollbackError(f"{what} did not answer a JSON object")
    return data
