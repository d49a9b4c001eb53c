"""Git plumbing for versioning, and the repository lock.

``git`` runs with a fixed environment (:func:`git_env`), so its output is stable.

The repository lock (:func:`repo_lock`) lets one workspace-writing churnops command run at a
time per repository: an ``flock`` on ``<git common dir>/churnops.lock``, which the kernel
releases when its holder dies, even by SIGKILL. The subprocesses a holder starts inherit the
descriptor, so a killed holder's still-running ``dvc`` child keeps the repository locked. The
file names the holder, so a second command can say who it is.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from churnops.core.errors import GitError, RepositoryBusyError

LOCK_FILE = "churnops.lock"
LOCK_WAIT_SECONDS = 3.0

_held_fds: list[int] = []


def held_fds() -> tuple[int, ...]:
    """The lock descriptors a subprocess must inherit (``subprocess.run(pass_fds=...)``)."""
    return tuple(_held_fds)


def git_env() -> dict[str, str]:
    """The environment for git subprocesses."""
    env = dict(os.environ)
    # Literal pathspecs: a file named ``*.json`` or ``:x`` means that file, never a pattern.
    env.update({"GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_LITERAL_PATHSPECS": "1"})
    return env


def git(args: Sequence[str], cwd: str | Path, *, input: bytes | None = None, check: bool = True) -> bytes:
    """Run ``git ARGS`` in ``cwd`` and return its stdout; GitError with git's first stderr line."""
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            env=git_env(),
            check=False,
            pass_fds=held_fds(),
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    except NotADirectoryError:
        raise GitError(f"{cwd}: not a directory") from None
    if check and proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = lines[0] if lines else f"exit status {proc.returncode}"
        raise GitError(f"git {args[0]} failed: {detail}")
    return proc.stdout


def repo_root(path: str | Path = ".") -> Path:
    """The top directory of the Git work tree containing ``path``, else GitError."""
    path = Path(path)
    if not path.is_dir():
        raise GitError(f"{path}: no such directory")
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True, env=git_env(), check=False
    )
    if proc.returncode != 0:
        raise GitError(f"{path.resolve()}: not inside a Git repository")
    return Path(proc.stdout.strip())


def git_dir(root: Path) -> Path:
    """This work tree's own Git directory (``.git``, or ``.git/worktrees/NAME`` in a linked worktree)."""
    return Path(git(["rev-parse", "--absolute-git-dir"], root).decode().strip())


def common_git_dir(root: Path) -> Path:
    """The Git directory every work tree of the repository shares."""
    out = git(["rev-parse", "--path-format=absolute", "--git-common-dir"], root).decode().strip()
    return Path(out)


def head(root: Path) -> str | None:
    """The sha HEAD points at, or ``None`` in a repository without commits."""
    return git(["rev-parse", "--verify", "--quiet", "HEAD"], root, check=False).decode().strip() or None


def tracked(root: Path, rev: str | None) -> set[str]:
    """Files Git tracks at ``rev`` (or in the index when ``rev`` is None)."""
    args = ["ls-tree", "-r", "-z", "--name-only", rev] if rev else ["ls-files", "-z"]
    return {p for p in git(args, root).decode().split("\0") if p}


def cat_file_check(root: Path, names: Sequence[str]) -> list[str | None]:
    """Resolve object names (``REV:path``) to blob ids in one process; ``None`` where missing."""
    if not names:
        return []
    if any("\n" in n for n in names):
        raise GitError("object names cannot contain a newline")
    out = git(
        ["cat-file", "--batch-check=%(objectname) %(objecttype)"], root, input="".join(f"{n}\n" for n in names).encode()
    )
    result: list[str | None] = []
    for line in out.decode().splitlines():
        oid, _, kind = line.partition(" ")
        # A missing object prints "<name> missing"; a path naming a tree is no file for us.
        result.append(oid if kind == "blob" else None)
    if len(result) != len(names):
        raise GitError("git cat-file --batch-check answered an unexpected number of lines")
    return result


def cat_file_blobs(root: Path, oids: Iterable[str]) -> dict[str, bytes]:
    """Read blobs by id in one ``git cat-file --batch`` process."""
    wanted = list(dict.fromkeys(oids))
    if not wanted:
        return {}
    out = git(["cat-file", "--batch"], root, input="".join(f"{o}\n" for o in wanted).encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    for oid in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].decode().split()
        pos = end + 1
        if len(header) != 3:  # "<oid> missing"
            continue
        size = int(header[2])
        blobs[oid] = out[pos : pos + size]
        pos += size + 1  # the content is followed by a newline
    return blobs


def show_file(root: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``rev``, or ``None`` when that commit has no such file."""
    (oid,) = cat_file_check(root, [f"{rev}:{path}"])
    if oid is None:
        return None
    return cat_file_blobs(root, [oid]).get(oid)


def ignore_rule(root: Path, path: str) -> str | None:
    """The rule that makes Git ignore ``path`` (``.gitignore:16:logs/``), or ``None`` when Git would add it."""
    env = git_env()
    del env["GIT_LITERAL_PATHSPECS"]  # check-ignore refuses the 'literal' magic; it reads paths, not patterns
    args = ["git", "check-ignore", "-v", "--", path]
    proc = subprocess.run(args, cwd=root, capture_output=True, env=env, check=False)
    if proc.returncode not in (0, 1):
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git check-ignore failed: {lines[0] if lines else proc.returncode}")
    rule, _, _ = proc.stdout.decode().partition("\t")
    # -v also reports a matching negation ("!keep.dvc"), which means the path is NOT ignored.
    return rule if rule and not rule.split(":", 2)[-1].startswith("!") else None


def _holder(fd: int, patience: float = 0.5) -> str:
    """Who holds the lock, as its holder wrote it. A holder writes its line just after taking the
    lock, so a reader that comes in between sees an empty file: it looks again, briefly."""
    deadline = time.monotonic() + patience
    while True:
        try:
            info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except (OSError, ValueError):
            info = {}
        if isinstance(info, dict) and "pid" in info:
            return f"held by pid {info.get('pid')} ({info.get('command', '?')}), started at {info.get('started', '?')}"
        if time.monotonic() >= deadline:
            return "held by another process"
        time.sleep(0.01)


def lock_holder(root: Path) -> str | None:
    """Who holds the repository lock right now, or ``None`` when nobody does."""
    path = common_git_dir(root) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def repo_lock(root: Path, command: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the repository's workspace lock for the ``with`` block; ``command`` is shown to whoever waits.

    Raises RepositoryBusyError when another process still holds it after ``wait`` seconds.
    """
    path = common_git_dir(root) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RepositoryBusyError(
                        f"another churnops command is changing {root} ({_holder(fd)}); "
                        "nothing was changed: try again when it has finished"
                    ) from None
                time.sleep(0.05)
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        line = json.dumps({"pid": os.getpid(), "command": command, "started": started}).encode()
        os.pwrite(fd, line, 0)  # write, then cut: a reader never sees a stale tail
        os.ftruncate(fd, len(line))
        _held_fds.append(fd)
        try:
            yield
        finally:
            _held_fds.remove(fd)
            os.ftruncate(fd, 0)  # still ours: nobody reads a stale holder after a clean exit
    finally:
        os.close(fd)  # releases the flock
