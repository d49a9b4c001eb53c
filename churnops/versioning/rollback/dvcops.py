"""The DVC operations of a rollback: status, cache look-ups, remote fetches, checkout.

Everything runs in-process through DVC's Python API (one interpreter start saved per
step); only the rebuild's ``dvc repro`` is a subprocess (:func:`dvc`), in its own worktree.
:func:`python` starts any child of this interpreter that must hold the repository lock.
Every remote failure (refused, unreachable, denied, missing, a file where a
directory should be) becomes one :class:`RemoteError` line that names the remote.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from churnops.core.errors import RemoteError, RollbackError
from churnops.versioning.git import held_fds
from churnops.versioning.rollback.faults import fault


def python(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` (``-m dvc ...``, ``-c ...``), output captured as text.

    The child inherits the repository lock (see :mod:`churnops.versioning.git`): if this process is
    killed, the lock stays held until the child has exited too.

    Raises:
        subprocess.TimeoutExpired: ``timeout`` seconds passed (the child is killed).
    """
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        text=True,
        capture_output=True,
        check=False,
        timeout=timeout,
        pass_fds=held_fds(),
    )


def dvc(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dvc ARGS`` with this interpreter (so the venv's DVC, whatever PATH says)."""
    return python(["-m", "dvc", *args], cwd, {"DVC_NO_ANALYTICS": "1", **(env or {})})


def dvc_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The first ``ERROR`` line of a failed DVC command (or its first line)."""
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or [f"exit status {proc.returncode}"])[0]


def dvc_status(root: Path) -> dict[str, Any]:
    """What ``dvc status --json`` prints for the workspace: ``{}`` when outputs, deps and lock agree.

    In-process (a read; it saves a second interpreter start per call).

    Raises:
        RollbackError: DVC failed (its message is in ours).
    """
    from dvc.exceptions import DvcException

    with _repo(root) as repo, _quiet_dvc_logs():
        try:
            status = repo.status()
        except DvcException as err:
            raise RollbackError(f"dvc status failed: {err}".splitlines()[0]) from None
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
    """``dvc status --json`` as one line: ``stage: kind path (state); ...``."""
    parts: list[str] = []
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


def checkout(root: Path, targets: Sequence[str]) -> None:
    """``dvc checkout TARGETS``: replace the outputs with the cache's copies the lock names.

    In-process, like the reads: a signal raises in the middle of it, and the transaction
    puts back what it had saved (a SIGKILL is undone by the next run's recovery).

    Raises:
        RollbackError: DVC failed (its first error line is in the message).
    """
    from dvc.exceptions import DvcException

    fault("dvc-checkout")
    with _repo(root) as repo, _quiet_dvc_logs():
        try:
            repo.checkout(targets=list(targets))
        except DvcException as err:
            raise RollbackError(f"dvc checkout failed: {err}".splitlines()[0]) from None
    fault("checked-out")


@contextmanager
def _quiet_dvc_logs() -> Iterator[None]:
    """DVC warns about missing objects itself; we report them in one line of our own."""
    import logging

    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _repo(root: Path) -> Iterator[Any]:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = Repo(str(root))
    except DvcException as err:
        raise RollbackError(f"dvc: {err}".splitlines()[0]) from None
    with repo:
        yield repo


def missing_objects(root: Path, object_ids: Iterable[str]) -> list[str]:
    """The object ids (md5, or ``md5.dir`` with its entries) absent from the repo's DVC cache."""
    missing = []
    with _repo(root) as repo:
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


@dataclass(frozen=True)
class Remote:
    """The default DVC remote as the workspace configures it."""

    name: str
    url: str

    def __str__(self) -> str:
        return f"{self.name!r} ({self.url})"


def default_remote(root: Path) -> Remote | None:
    """The default DVC remote (``core.remote``), or ``None`` when none is configured."""
    with _repo(root) as repo:
        name = repo.config.get("core", {}).get("remote")
        if not name:
            return None
        url = str(repo.config.get("remote", {}).get(name, {}).get("url", "?"))
    return Remote(name, url)


_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (TimeoutError, "timed out"),
    (socket.gaierror, "unknown host"),
    (PermissionError, "permission denied"),
    (NotADirectoryError, "not a directory"),
    (FileNotFoundError, "no such file or directory"),
)


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and the errors behind it (``__cause__``, ``__context__``, aiohttp's ``os_error``)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        inner = getattr(e, "os_error", None)
        todo += [e.__cause__, e.__context__, inner if isinstance(inner, BaseException) else None]
    return seen


def describe_failure(err: BaseException) -> str:
    """The cause of a remote failure in a few words, from the innermost error that says it."""
    seen = _chain(err)
    for candidate in reversed(seen):
        for kind, words in _CAUSES:
            if isinstance(candidate, kind):
                return words
        name = type(candidate).__name__
        if "PermissionDenied" in name or "Auth" in name:
            return "authentication failed"
    text = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def check_local_remote(remote: Remote) -> None:
    """A local remote's path must be a readable directory; DVC would quietly find nothing.

    Raises:
        RemoteError: the path is missing, a file, or unreadable.
    """
    parsed = urlparse(remote.url)
    if parsed.scheme not in ("", "file") or (parsed.scheme == "" and "://" in remote.url):
        return
    path = Path(parsed.path if parsed.scheme == "file" else remote.url)
    if not path.exists():
        raise RemoteError(f"DVC remote {remote}: no such directory")
    if not path.is_dir():
        raise RemoteError(f"DVC remote {remote}: not a directory (the path is a file)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise RemoteError(f"DVC remote {remote}: permission denied")


def pull_objects(root: Path, remote: Remote, object_ids: Iterable[str]) -> None:
    """Download objects from the default remote into the cache.

    This asks for the objects by hash with the *workspace's* remote configuration.
    ``dvc fetch`` of an old revision would read that revision's ``.dvc/config``, which
    may predate the remote (DVC then silently skips it).

    Raises:
        RemoteError: the remote is unreachable, refuses access, or is misconfigured.
    """
    from dvc_data.hashfile.hash_info import HashInfo

    check_local_remote(remote)
    wanted = [HashInfo("md5", oid) for oid in object_ids]
    with _repo(root) as repo, _quiet_dvc_logs():
        try:
            result = repo.cloud.pull(wanted)
            if len(result.transferred) < len(wanted):
                _probe(repo, remote)
        except RemoteError:
            raise
        except Exception as err:  # any failure of a remote (DVC, OSError, SSH, HTTP) is one line
            raise RemoteError(f"DVC remote {remote}: {describe_failure(err)}") from None


def _probe(repo: Any, remote: Remote) -> None:
    """Tell "the remote lacks the objects" from "the remote cannot be reached".

    DVC counts an object it could not ask about (connection refused, say) as missing.
    One ``info`` on the remote's root tells: a bare "not found" is normal (an HTTP remote
    has no directory listing), anything behind it (a refused connection) is the failure.

    Raises:
        RemoteError: the remote cannot be reached.
    """
    odb = repo.cloud.get_remote(remote.name)
    try:
        odb.fs.info(odb.path)
    except Exception as err:  # the same breadth as the pull's: the cause is what we report
        if all(isinstance(e, FileNotFoundError) for e in _chain(err)):
            return
        raise RemoteError(f"DVC remote {remote}: {describe_failure(err)}") from None
