"""A DVC remote, and its failures in one line.

DVC counts an object it could not ask about (connection refused, say) as missing, and some
failures (a refused connection, a path that is a file) surface as exceptions from deep in its
transfer code. Every one of them becomes one :class:`RemoteError` line that names the remote and
the cause, from the innermost error that says it. An S3 remote's causes name its bucket (missing,
access denied, no credentials) and its endpoint (down), the things a person fixes.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from churnops.core.archive import S3_DENIED, S3_MISSING, s3_error_code
from churnops.core.errors import RemoteError


@dataclass(frozen=True)
class Remote:
    """The default DVC remote as the workspace configures it.

    ``endpoint`` is an S3-compatible store's ``endpointurl`` (``None``: AWS itself).
    """

    name: str
    url: str
    endpoint: str | None = None

    def __str__(self) -> str:
        where = f"{self.url} at {self.endpoint}" if self.endpoint else self.url
        return f"{self.name!r} ({where})"

    @property
    def bucket(self) -> str | None:
        """The bucket of an ``s3://`` remote, else ``None``."""
        parsed = urlparse(self.url)
        return parsed.netloc if parsed.scheme == "s3" else None


def default_remote(repo: Any) -> Remote | None:
    """The default DVC remote (``core.remote``) of an open ``repo``, or ``None`` when none is configured."""
    name = repo.config.get("core", {}).get("remote")
    if not name:
        return None
    section = repo.config.get("remote", {}).get(name, {})
    endpoint = section.get("endpointurl")
    return Remote(name, str(section.get("url", "?")), str(endpoint) if endpoint else None)


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


def _credentials_hint(remote: Remote) -> str:
    """Where S3 credentials come from: the environment (the usual AWS sources), or the remote's local config."""
    return f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or `dvc remote modify --local {remote.name} access_key_id ...`"


def _s3_cause(seen: list[BaseException], remote: Remote, bucket: str) -> str | None:
    """What an S3 store said, in words that name the bucket or the endpoint; ``None`` if it said nothing known."""
    codes = [code for e in seen if (code := s3_error_code(e))]
    if any(code in S3_MISSING for code in codes):
        return f"bucket {bucket!r} does not exist"
    if any(code in S3_DENIED for code in codes) or any(isinstance(e, PermissionError) for e in seen):
        why = next((code for code in codes if code in S3_DENIED and not code.isdigit()), "HTTP 403")
        return f"access to bucket {bucket!r} denied ({why}): check the credentials ({_credentials_hint(remote)})"
    if any(type(e).__name__ == "NoCredentialsError" for e in seen):
        return f"no credentials for bucket {bucket!r}: set {_credentials_hint(remote)}"
    if remote.endpoint and any(isinstance(e, (ConnectionError, TimeoutError, socket.gaierror)) for e in seen):
        words = next((w for e in reversed(seen) for kind, w in _CAUSES if isinstance(e, kind)), "cannot connect")
        return f"endpoint {remote.endpoint} is down or unreachable ({words})"
    return None


def describe_failure(err: BaseException, remote: Remote | None = None) -> str:
    """The cause of a remote failure in a few words, from the innermost error that says it."""
    seen = _chain(err)
    bucket = remote.bucket if remote else None
    if remote and bucket and (cause := _s3_cause(seen, remote, bucket)):
        return cause
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
            return  # (a missing S3 bucket is a FileNotFoundError too, but its NoSuchBucket cause is in the chain)
        raise RemoteError(f"DVC remote {remote}: {describe_failure(err, remote)}") from None
