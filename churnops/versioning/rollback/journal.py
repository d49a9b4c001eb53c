"""The rollback's transaction: a journal written before anything is touched, and its recovery.

A rollback changes three kinds of state: files Git rewrites, DVC outputs ``dvc checkout``
replaces, and the index and HEAD. :class:`Transaction` saves all of it under
``<git dir>/churnops-rollback/`` and records, in ``journal.json`` (written atomically and
fsync'd), what it is about to do *before* doing it:

``backing-up``
    The plan: every file and output, and whether each existed. Then the index and files
    are copied and the outputs *moved* aside (a rename: no copy of large data, inode and
    mtime kept, so DVC's state cache still recognises them when they return).
``applying``
    Every backup is complete; Git and DVC may now change the workspace.
``done``
    The rollback (and its commit) is complete; only the backup is left to delete.

:func:`recover` reads the journal and makes the workspace consistent again, whatever
instant the previous run died at: ``done`` is finished (the backup deleted), anything
else is undone (outputs moved back, files, index and HEAD restored). Each step is
idempotent, so a recovery that is itself killed is simply run again. The in-process
undo after an error or a signal is the same function.

``rebuilding`` marks a ``--rebuild`` in progress: its temporary ``git worktree`` lives
in ``churnops-rollback/rebuild/`` and is removed by the recovery too.

Signals: inside :func:`interrupts_raise`, SIGTERM and SIGHUP raise :class:`Interrupted`
(a ``KeyboardInterrupt``), so they unwind exactly as Ctrl-C does; :func:`shielded` keeps
a second signal from interrupting the undo itself.

Length: one concern, crash safety: the journal, the backup, the signal shield and
recovery must change together (every kill point in tests/workflow exercises them as one).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from churnops.core.errors import RollbackError
from churnops.versioning.git import git, git_dir, head
from churnops.versioning.rollback.faults import fault

JOURNAL_DIR = "churnops-rollback"
JOURNAL_VERSION = 1

Log = Callable[[str], None]


# --------------------------------------------------------------------------- signals


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the process was, so it unwinds as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_shield = threading.local()


def _raise(signum: int, frame: object) -> None:
    if getattr(_shield, "on", False):
        return  # undoing: finish that first; the process exits right after
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """Make SIGTERM and SIGHUP (and SIGINT) raise in the main thread for the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def shielded() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP (within :func:`interrupts_raise`) while putting things back."""
    before = getattr(_shield, "on", False)
    _shield.on = True
    try:
        yield
    finally:
        _shield.on = before


# --------------------------------------------------------------------------- files


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _copy(src: Path, dest: Path) -> None:
    """Copy a file (or symlink) so that ``dest`` appears whole or not at all, fsync'd."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    _remove(tmp)
    shutil.copy2(src, tmp, follow_symlinks=False)
    if not tmp.is_symlink():
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, dest)


def _move(src: Path, dest: Path) -> None:
    """Move ``src`` to ``dest``: a rename, or (across filesystems) a whole copy renamed into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dest)
        return
    except OSError as err:
        if err.errno != 18:  # EXDEV: .git on another filesystem than the work tree
            raise
    tmp = dest.with_name(f".{dest.name}.tmp")
    _remove(tmp)
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, tmp, symlinks=True)
    else:
        shutil.copy2(src, tmp, follow_symlinks=False)
    os.rename(tmp, dest)  # the backup is whole: only now may the original go
    _remove(src)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- the journal


class Journal:
    """``<git dir>/churnops-rollback/``: ``journal.json``, ``backup/`` and ``rebuild/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = git_dir(root) / JOURNAL_DIR
        self.path = self.base / "journal.json"
        self.backup = self.base / "backup"
        self.rebuild = self.base / "rebuild"

    def read(self) -> dict[str, Any] | None:
        """The journal of an unfinished run, or ``None``.

        Raises:
            RollbackError: the journal exists but cannot be read (it is never half-written,
                so this means someone edited it); the backup is named for a manual repair.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise RollbackError(f"{self.path}: cannot read the journal of an interrupted rollback ({err})") from None
        try:
            state = json.loads(text)
        except ValueError:
            state = None
        if not isinstance(state, dict) or state.get("version") != JOURNAL_VERSION or "phase" not in state:
            raise RollbackError(
                f"{self.path}: the journal of an interrupted rollback is unreadable; its backup is in "
                f"{self.backup}: put the files back by hand, then delete {self.base}"
            )
        return state

    def write(self, state: Mapping[str, Any]) -> None:
        """Replace the journal atomically and durably (tmp file, fsync, rename, fsync the directory)."""
        self.base.mkdir(exist_ok=True)
        tmp = self.path.with_name("journal.json.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump({"version": JOURNAL_VERSION, **state}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.base)

    def clear(self) -> None:
        """Forget the run: the journal goes first, so a kill half-way leaves only garbage."""
        if self.path.exists():
            self.path.unlink()
            _fsync_dir(self.base)
        self.remove_leftovers()

    def remove_leftovers(self) -> None:
        """Delete backups, temporary files and rebuild worktrees no journal refers to."""
        if self.path.exists():
            raise RollbackError(f"{self.path}: refusing to delete the backup of an unfinished rollback")
        remove_rebuild_worktrees(self.root, self.rebuild)
        for leftover in (self.backup, self.path.with_name("journal.json.tmp")):
            _remove(leftover)


def remove_rebuild_worktrees(root: Path, folder: Path) -> None:
    """Unregister and delete every ``git worktree`` under ``folder``, then ``folder`` itself."""
    listing = git(["worktree", "list", "--porcelain", "-z"], root, check=False).decode()
    for field in listing.split("\0"):
        if field.startswith("worktree "):
            path = Path(field.removeprefix("worktree "))
            if path == folder or folder in path.parents:
                # A `git worktree add` killed half-way leaves its worktree locked ("initializing").
                git(["worktree", "unlock", str(path)], root, check=False)
                git(["worktree", "remove", "--force", "--force", str(path)], root, check=False)
    _remove(folder)
    if folder.parent.exists():
        git(["worktree", "prune"], root, check=False)


# --------------------------------------------------------------------------- the transaction


class Transaction:
    """Backs up what a rollback will change, and puts it back on failure or after a crash.

    Args:
        root: the work tree.
        files: Git-tracked paths the rollback may create, rewrite or delete.
        outs: DVC outputs ``dvc checkout`` will replace.
        about: what the run is (``rev``, ``sha``), kept in the journal for the recovery's message.
    """

    def __init__(
        self, root: Path, files: Iterable[str], outs: Iterable[str], about: Mapping[str, Any] | None = None
    ) -> None:
        self.root = root
        self.files = sorted(set(files))
        self.outs = sorted(set(outs))
        self.about = dict(about or {})
        self.journal = Journal(root)
        self.backup = self.journal.backup
        self.index = Path(git(["rev-parse", "--path-format=absolute", "--git-path", "index"], root).decode().strip())
        self.head = head(root)
        self.state: dict[str, Any] | None = None

    def begin(self) -> None:
        """Record the plan, then save everything; from here on :func:`recover` can undo it."""
        if self.journal.read() is not None:
            raise RollbackError(f"{self.journal.path}: an interrupted rollback must be recovered first")
        self.journal.remove_leftovers()

        def present(rel: str) -> bool:
            p = self.root / rel
            return p.exists() or p.is_symlink()

        self.state = {
            **self.about,
            "phase": "backing-up",
            "pid": os.getpid(),
            "started": _now(),
            "head": self.head,
            "index_present": self.index.exists(),
            "files": [[rel, (self.root / rel).is_file() or (self.root / rel).is_symlink()] for rel in self.files],
            "outs": [[rel, present(rel)] for rel in self.outs],
        }
        self.journal.write(self.state)
        fault("journal-written")
        self.backup.mkdir()
        if self.state["index_present"]:
            _copy(self.index, self.backup / "index")
        for i, (rel, exists) in enumerate(self.state["files"]):
            if exists:
                _copy(self.root / rel, self.backup / "files" / str(i))
        fault("files-saved")
        for i, (rel, exists) in enumerate(self.state["outs"]):
            if exists:
                _move(self.root / rel, self.backup / "outs" / str(i))
                fault("out-moved")
        for sub in (self.backup, self.backup / "files", self.backup / "outs"):
            if sub.exists():
                _fsync_dir(sub)
        self.state["phase"] = "applying"
        self.journal.write(self.state)
        fault("backed-up")

    def finish(self) -> None:
        """The new state stands: mark the run done, then delete the backup."""
        if self.state is not None:
            self.state["phase"] = "done"
            self.journal.write(self.state)
            fault("done")
        self.discard()

    def discard(self) -> None:
        """Delete the journal and the backup."""
        self.journal.clear()
        self.state = None

    def undo(self) -> None:
        """Restore the work tree, index and HEAD as :meth:`begin` found them."""
        state = self.journal.read()
        if state is not None:
            restore(self.root, self.journal, state, after_crash=False)


def restore(root: Path, journal: Journal, state: Mapping[str, Any], *, after_crash: bool = True) -> str:
    """Make the workspace what the journal says it was before the run, or finish a done run.

    Idempotent: a restore killed half-way is completed by running it again. After a crash
    (not for the run's own undo), HEAD must not have moved beyond the run's own commit.

    Returns:
        ``"finished"`` or ``"undone"``.
    """
    phase = state["phase"]
    if phase in ("done", "rebuilding"):
        journal.clear()
        return "finished" if phase == "done" else "undone"
    backup = journal.backup
    applying = phase == "applying"
    if applying and after_crash:
        _check_head_is_ours(root, state, journal)
        # A git process killed mid-write leaves its lock files; the journal proves it was ours.
        gd = git_dir(root)
        for lock in ("index.lock", "HEAD.lock"):
            _remove(gd / lock)
        ref = git(["symbolic-ref", "-q", "HEAD"], root, check=False).decode().strip()
        if ref:
            _remove(Path(git(["rev-parse", "--git-common-dir"], root).decode().strip()) / f"{ref}.lock")
    for i, (rel, existed) in enumerate(state["outs"]):
        target = root / rel
        for tmp in target.parent.glob(f"{target.name}.*.tmp"):  # a killed `dvc checkout`'s partial copy
            _remove(tmp)
        saved = backup / "outs" / str(i)
        if existed and (saved.exists() or saved.is_symlink()):
            _remove(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(saved, target)
        elif not existed and applying:
            _remove(target)
        # existed but no backup: never moved, or already put back; the workspace copy is the original
    fault("outs-restored")
    if applying:
        for i, (rel, existed) in enumerate(state["files"]):
            target = root / rel
            if existed:
                _copy(backup / "files" / str(i), target)
            else:
                _remove(target)
        index = Path(git(["rev-parse", "--path-format=absolute", "--git-path", "index"], root).decode().strip())
        if state["index_present"]:
            _copy(backup / "index", index)
        else:
            _remove(index)
        if state["head"] and head(root) != state["head"]:
            git(["update-ref", "-m", "churnops rollback: undo", "HEAD", state["head"]], root)
    journal.clear()
    return "undone"


def _check_head_is_ours(root: Path, state: Mapping[str, Any], journal: Journal) -> None:
    """HEAD is where the run left it: its start, or the rollback commit right on top of it.

    Anything else means someone committed after the crash; resetting HEAD would hide that work.

    Raises:
        RollbackError: HEAD moved otherwise; the journal and backup are kept.
    """
    before, now = state.get("head"), head(root)
    if not before or now == before:
        return
    parent = git(["rev-parse", "--verify", "--quiet", f"{now}^"], root, check=False).decode().strip()
    subject = git(["log", "-1", "--format=%s", str(now)], root, check=False).decode().strip()
    if parent == before and subject.startswith("rollback: model "):
        return
    raise RollbackError(
        f"an interrupted rollback to {state.get('rev', '?')} left a journal, but HEAD has moved since "
        f"(from {before[:8]} to {str(now)[:8]}): not undoing it automatically; its journal and backup "
        f"are in {journal.base}"
    )


def legacy_backups(root: Path) -> list[Path]:
    """Backup folders of churnops versions before the journal (``tmp*``), never removed automatically."""
    base = git_dir(root) / JOURNAL_DIR
    return sorted(base.glob("tmp*")) if base.is_dir() else []


def recover(root: Path, log: Log) -> str | None:
    """Undo (or finish) a run that died, and delete whatever it left; ``None`` if there was none.

    Call with the repository lock held. Temporary files and worktrees of a run that died
    are removed even when there is no journal to act on.
    """
    journal = Journal(root)
    if old := legacy_backups(root):
        log(f"warning: {len(old)} backup folder(s) of an older churnops in {old[0].parent} (tmp*): check, then delete")
    state = journal.read()
    if state is None:
        journal.remove_leftovers()
        return None
    try:
        with shielded():
            outcome = restore(root, journal, state)
    except OSError as err:
        raise RollbackError(
            f"recovering an interrupted rollback failed ({err}); its journal and backup are kept in {journal.base}"
        ) from None
    what = f"rollback to {state.get('rev', '?')} (pid {state.get('pid', '?')}, started at {state.get('started', '?')})"
    message = f"an interrupted {what} was found and {outcome}"
    log(message)
    return message


def pending(root: Path) -> str | None:
    """A one-line description of an interrupted run awaiting recovery, or ``None``."""
    state = Journal(root).read()
    if state is None:
        return None
    return (
        f"an interrupted rollback to {state.get('rev', '?')} (pid {state.get('pid', '?')}, "
        f"started at {state.get('started', '?')}, phase {state['phase']}) will be "
        f"{'finished' if state['phase'] == 'done' else 'undone'} by the next rollback"
    )
