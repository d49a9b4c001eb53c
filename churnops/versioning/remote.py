"""A DVC remote, and its failures in one line.

DVC counts an object it could not ask about (connection refused, say) as missing, and some
failures (a refused connection, a path that is a file) surface as exceptions from deep in its
transfer code. Every one of them becomes one :class:`RemoteError` line that names the remote and
the cause, from the innermost error that says it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from churnops.core.errors import RemoteError


@dataclass(frozen=True)
class Remote:
    """The default DVC remote as the workspace configures it."""

    name: str
    url: str

    def __str__(self) -> str:
        return f"{self.name!r} ({self.url})"


def default_remote(repo: Any) -> Remote | None:
    """The default DVC remote (``core.remote``) of an open ``repo``, or ``None`` when none is configured."""
    name = repo.config.get("core", {}).get("remote")
    if not name:
        return None
    return Remote(name, str(repo.config.get("remote", {}).get(name, {}).get("url", "?")))


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


def local_path(remote: Remote) -> Path | None:
    """The directory of a local remote (a path or ``file://`` URL); ``None`` for any other."""
    parsed = urlparse(remote.url)
    if parsed.scheme not in ("", "file") or (parsed.scheme == "" and "://" in remote.url):
        return None
    return Path(parsed.path if parsed.scheme == "file" else remote.url)


def check_local_remote(remote: Remote) -> None:
    """RemoteError unless a local remote's path is a readable directory: DVC would quietly find nothing."""
    path = local_path(remote)
    if path is None:
        return
    if not path.exists():
        raise RemoteError(f"DVC remote {remote}: no such directory")
    if not path.is_dir():
        raise RemoteError(f"DVC remote {remote}: not a directory (the path is a file)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise RemoteError(f"DVC remote {remote}: permission denied")


def probe(repo: Any, remote: Remote) -> None:
    """Tell "the remote lacks the objects" from "the remote cannot be reached".

    DVC counts an object it could not ask about as missing. One ``info`` on the remote's root
    tells: a bare "not found" is normal (an HTTP remote has no listing); anything else raises RemoteError.
    """
    odb = repo.cloud.get_remote(remote.name)
    try:
        odb.fs.info(odb.path)
    except Exception as err:  # the same breadth as the pull's: the cause is what we report
        if all(isinstance(e, FileNotFoundError) for e in _chain(err)):
            return
        raise RemoteError(f"DVC remote {remote}: {describe_failure(err)}") from None
