"""The rollback itself: lock, recover, plan, make the data available, apply, commit.

1. Take the repository lock (:func:`churnops.versioning.git.repo_lock`): one writer at a time.
2. Recover an interrupted earlier run, if its journal is there (:func:`.journal.recover`).
3. Plan from Git objects only (:mod:`.plan`); refuse a dirty tree, and (unless allowed) a
   revision whose copy of code the commands and the service import differs (:mod:`.livecode`).
4. Make sure the cache holds every object REV needs, from the remote or by rebuilding
   (:mod:`.dvcops`, :mod:`.rebuild`), before anything in the workspace is touched.
5. Apply inside a :class:`.journal.Transaction`: restore Git files, ``dvc checkout``,
   verify the model's md5 and ``dvc status``, import the commands' and the service's code
   if REV changed it, commit. Any error, Ctrl-C, SIGTERM or
   SIGHUP undoes it all; a SIGKILL is undone by the next run's step 2.
6. Release the lock, then (optionally) tell a running service to reload.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnops.core import paths
from churnops.core.errors import (
    ChurnopsError,
    DataUnavailableError,
    ModelIntegrityError,
    RemoteError,
    RollbackError,
    ServiceReloadError,
)
from churnops.versioning.git import LOCK_WAIT_SECONDS, git, lock_holder, repo_lock, repo_root
from churnops.versioning.history import file_md5
from churnops.versioning.rollback import dvcops
from churnops.versioning.rollback.faults import fault
from churnops.versioning.rollback.journal import Log, Transaction, interrupts_raise, pending, recover, shielded
from churnops.versioning.rollback.livecode import changed_live_code, check_imports, refuse_live_code
from churnops.versioning.rollback.plan import Plan, cached_md5s, current_lock, dirty_paths, plan_rollback, refuse_dirty
from churnops.versioning.rollback.rebuild import rebuild


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    recovered: str | None = None
    """What the recovery of an interrupted earlier run did, if there was one."""
    live_code: list[str] = field(default_factory=list)
    """Restored files the commands and the service import (allowed, and checked to import)."""


def status(repo: str | Path) -> list[str]:
    """Lines describing a rollback in progress (the lock's holder) or awaiting recovery."""
    root = repo_root(repo)
    lines = []
    if holder := lock_holder(root):
        lines.append(f"the repository is locked: {holder}")
    if waiting := pending(root):
        lines.append(waiting)
    return lines


def _ensure_objects(root: Path, plan: Plan, rebuild_missing: bool, result: RollbackResult, log: Log) -> None:
    """Put every object REV needs into the cache, or raise; the workspace is not touched."""
    missing = dvcops.missing_objects(root, plan.object_ids)
    remote = dvcops.default_remote(root) if missing else None
    if missing and remote:
        log(f"fetching {len(missing)} object(s) of {plan.rev} from the DVC remote {remote.name!r}")
        try:
            dvcops.pull_objects(root, remote, missing)
        except RemoteError as err:
            if not rebuild_missing:
                raise RollbackError(f"{err}; nothing was changed") from None
            log(f"warning: {err}; rebuilding instead")
        still = dvcops.missing_objects(root, missing)
        result.fetched = len(missing) - len(still)
        missing = still
    if missing and rebuild_missing:
        result.rebuilt = rebuild(root, plan, log)
        missing = dvcops.missing_objects(root, missing)
    if missing:
        where = (
            f"neither in the DVC cache nor in the remote {remote.name!r}"
            if remote
            else "not in the DVC cache, and no default DVC remote is configured"
        )
        by_path = {md5: path for path, md5 in plan.cached_outs.items()}
        missing.sort(key=lambda m: (by_path.get(m) != paths.MODEL, by_path.get(m, "")))  # the model first
        names = ", ".join(f"{by_path.get(m, '?')} ({m[:12]})" for m in missing[:6])
        if len(missing) > 6:
            names += f" and {len(missing) - 6} more"
        raise DataUnavailableError(f"{plan.rev}: {names}: {where}; nothing was changed", not rebuild_missing)


def _apply(
    root: Path,
    plan: Plan,
    before: Mapping[str, Any],
    commit: bool,
    force: bool,
    live: set[str] | None,
    result: RollbackResult,
    log: Log,
) -> None:
    """Change the workspace inside a transaction; on any failure put everything back."""
    current = cached_md5s(current_lock(root))
    stale = {p for p, s in dvcops.changed_outs(before).items() if s in ("modified", "deleted")}
    targets = sorted(
        p for p, md5 in plan.cached_outs.items() if current.get(p) != md5 or p in stale or not (root / p).exists()
    )
    gitignores = sorted({str(Path(p).parent / ".gitignore") for p in plan.cached_outs if Path(p).parent != Path(".")})
    tx = Transaction(root, [*plan.git_files, *gitignores], targets, about={"rev": plan.rev, "sha": plan.sha})
    try:
        tx.begin()
        if plan.git_files:
            git(["restore", f"--source={plan.sha}", "--staged", "--worktree", "--", *plan.git_files], root)
        fault("git-restored")
        if targets:
            dvcops.checkout(root, targets)
        got = file_md5(root / paths.MODEL)
        if got != plan.model.md5:
            raise ModelIntegrityError(
                f"{paths.MODEL} has md5 {got} after checkout, but {plan.rev} records {plan.model.md5}"
                " (corrupted cache?)"
            )
        after = dvcops.dvc_status(root)
        fault("status-after")
        if after and not force:
            summary = dvcops.summarize_status(after)
            raise RollbackError(f"`dvc status` is not clean after restoring {plan.rev}: {summary}")
        if after:
            log(f"warning: `dvc status` is not clean (forced: local changes kept): {dvcops.summarize_status(after)}")
        if live is not None:
            # Allowed to change live code: the promise is still that the next command starts.
            check_imports(root, live, plan.rev)
        changed = git(["diff", "--cached", "--name-only", "-z", "HEAD", "--", *plan.git_files], root).decode()
        # dvc checkout adds .gitignore entries for outputs the current tree did not have.
        ignores = [g for g in gitignores if git(["status", "--porcelain=v1", "--", g], root).strip()]
        if ignores:
            git(["add", "--", *ignores], root)
        result.restored = sorted({p for p in changed.split("\0") if p} | set(ignores))
        result.checked_out = targets
        result.code = [f for f in result.restored if f in plan.code_files]
        result.live_code = [f for f in result.restored if live is not None and f in live]
        if not result.restored:
            result.noop = True
        elif commit:
            message = f"rollback: model {plan.model.md5} from {plan.rev}"
            body = f"Restored {paths.MODEL} with the params, dvc.lock and metrics of commit {plan.sha}."
            git(["commit", "--quiet", "-m", message, "-m", body, "--", *result.restored], root)
            fault("committed")
            result.commit = git(["rev-parse", "HEAD"], root).decode().strip()
        tx.finish()
    except BaseException as err:
        with shielded():
            try:
                tx.undo()
            except Exception as undo_err:  # never lose the backup if putting it back fails
                raise RollbackError(
                    f"{err}; restoring the previous state also failed ({undo_err}); the backup and its journal are "
                    f"kept in {tx.journal.base}, and the next rollback retries the restore"
                ) from err
        if isinstance(err, ChurnopsError | OSError):  # OSError: a full disk, a permission, ...
            raise RollbackError(f"{err}; nothing was changed") from None
        raise


def rollback(
    repo: str | Path,
    rev: str,
    *,
    commit: bool = True,
    force: bool = False,
    allow_code: bool = False,
    rebuild_missing: bool = False,
    reload_url: str | None = None,
    admin_token: str | None = None,
    log: Log = _stderr,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> RollbackResult:
    """Restore REV's model with its params, lock, metrics and pipeline code; commit it.

    Args:
        allow_code: go ahead when REV's copy of code the commands and the service import
            differs from HEAD's; the rollback is then undone unless that code still imports.

    Raises:
        RollbackError: refused (dirty tree, no model at REV, data unavailable, live code
            changed: :class:`~churnops.core.errors.LiveCodeError`) or failed; the work tree,
            index and HEAD are then exactly as before.
        RepositoryBusyError: another churnops command holds the repository lock.
        ServiceReloadError: the commit stands, but the service did not reload.
        KeyboardInterrupt: Ctrl-C, SIGTERM or SIGHUP (:class:`.journal.Interrupted`); undone.
    """
    if reload_url is not None:
        from churnops.service.client import check_target

        check_target(reload_url, admin_token)
    root = repo_root(repo)
    with repo_lock(root, f"churnops rollback {rev}", lock_wait), interrupts_raise():
        fault("locked")
        recovered = recover(root, log)
        plan = plan_rollback(root, rev)
        result = RollbackResult(rev=rev, sha=plan.sha, md5=plan.model.md5, recovered=recovered)
        if not force:
            refuse_dirty(dirty_paths(root, plan))
        changed_code, live = changed_live_code(root, plan)
        if not allow_code:
            refuse_live_code(plan, changed_code)
        try:
            before = dvcops.dvc_status(root)
        except RollbackError as err:
            if not force:
                raise
            log(f"warning: {err} (continuing: forced)")
            before = {}
        if not force:
            refuse_dirty(dirty_paths(root, plan, dvcops.changed_outs(before)))
        fault("checked-clean")
        _ensure_objects(root, plan, rebuild_missing, result, log)
        fault("objects-ready")
        _apply(root, plan, before, commit, force, live if changed_code else None, result, log)

    if reload_url is not None and admin_token:
        from churnops.service.client import reload_service

        try:
            result.reload = reload_service(reload_url, admin_token, plan.model.md5)
        except ServiceReloadError as err:
            done = f"committed {result.commit[:8]}" if result.commit else "the workspace is rolled back"
            raise ServiceReloadError(f"{done}, but the service did not reload: {err}") from None
    return result
