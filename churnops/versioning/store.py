"""Model objects by md5: the DVC cache first, then the default DVC remote; always verified.

DVC keys every cached file by the md5 of its bytes, so a model is fully named by its md5: this
module turns one into verified bytes, whatever the work tree holds. Everything that reads a
model reads it this way, never from ``models/model.json``. DVC's own API finds the cache
(``cache.dir`` may point anywhere) and talks to the remote.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from churnops.core.errors import ModelIntegrityError, ModelUnavailableError, RemoteError
from churnops.versioning.remote import (
    Remote,
    check_local_remote,
    default_remote,
    describe_failure,
    local_path,
    probe,
)

MD5 = re.compile(r"^[0-9a-f]{32}$")


@contextmanager
def quiet_dvc_logs() -> Iterator[None]:
    """DVC warns about missing objects, and logs transfer errors, itself; we report them in one line."""
    import logging

    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_data", "dvc_objects")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def dvc_repo(root: Path) -> Iterator[Any]:
    """DVC's ``Repo`` of the project at ``root``; ModelUnavailableError if it is not a DVC project."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = Repo(str(root))
    except DvcException as err:
        raise ModelUnavailableError(f"no DVC cache to read models from: {err}".splitlines()[0]) from None
    with repo:
        yield repo


def check_md5(md5: str) -> str:
    """``md5`` if it is 32 lowercase hex digits (what DVC records), else ModelIntegrityError."""
    if not isinstance(md5, str) or not MD5.match(md5):
        raise ModelIntegrityError(f"{md5!r} is not an md5 (32 lowercase hex digits)")
    return md5


def file_md5(path: Path) -> str | None:
    """The md5 of a file's bytes (what DVC records for a file output), or ``None`` if absent."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "md5").hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def object_path(repo: Any, md5: str) -> Path:
    """Where the DVC cache of an open ``repo`` keeps the object ``md5`` (present or not)."""
    return Path(repo.cache.local.oid_to_path(check_md5(md5)))


def _relative(root: Path, path: Path) -> str:
    """``path`` relative to the project when inside it: messages may reach unauthenticated callers."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def ensure(root: Path, md5: str, what: str) -> Path:
    """The verified cache path of object ``md5``, fetched from the default remote if need be.

    ``what`` starts the messages (``model d8aab982826e (prod)``).

    Raises:
        ModelIntegrityError: the cache's copy does not hash to ``md5``.
        ModelUnavailableError: in neither the cache nor the default remote (or no remote).
        RemoteError: the remote could not be read.
    """
    check_md5(md5)
    with dvc_repo(root) as repo:
        path = object_path(repo, md5)
        remote = None
        if not path.is_file():
            remote = default_remote(repo)
            if remote is None:
                raise ModelUnavailableError(f"{what}: not in the DVC cache, and no default DVC remote is configured")
            _pull(repo, remote, [md5])
            if not path.is_file():
                raise ModelUnavailableError(f"{what}: in neither the DVC cache nor the DVC remote {remote}")
    got = file_md5(path)
    if got != md5:
        raise ModelIntegrityError(
            f"{what}: the DVC cache's copy ({_relative(root, path)}) is corrupt: its bytes hash to {got}; "
            "delete it to have it fetched from the remote again"
        )
    return path


def read(root: Path, md5: str, what: str) -> bytes:
    """The bytes of object ``md5``, from the cache or the remote (:func:`ensure`), verified once read."""
    path = ensure(root, md5, what)
    data = path.read_bytes()
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:  # changed between the check and the read
        raise ModelIntegrityError(f"{what}: the DVC cache's copy changed while it was read; try again")
    return data


def on_remote(root: Path, md5: str) -> tuple[Remote | None, bool]:
    """(the default remote, whether it holds ``md5``); ``(None, False)`` with no remote; else RemoteError."""
    from dvc_data.hashfile.hash_info import HashInfo

    with dvc_repo(root) as repo:
        remote = default_remote(repo)
        if remote is None:
            return None, False
        path = local_path(remote)
        if path is not None and not path.exists():
            return remote, False  # a local remote nothing was pushed to yet: `push` creates it
        check_local_remote(remote)
        try:
            with quiet_dvc_logs():
                status = repo.cloud.status([HashInfo("md5", check_md5(md5))], remote=remote.name)
            # ok: in the cache and on the remote; deleted: on the remote only (DVC's words)
            present = any(h.value == md5 for h in status.ok | status.deleted)
            if not present:  # DVC counts what it could not ask about (a missing bucket) as absent
                probe(repo, remote)
        except RemoteError:
            raise
        except Exception as err:  # any failure of a remote (DVC, OSError, SSH, HTTP) is one line
            raise RemoteError(f"DVC remote {remote}: {describe_failure(err, remote)}") from None
        return remote, present


def push(root: Path, md5: str) -> Remote | None:
    """Upload the object ``md5`` to the default remote unless it is there; the remote, or None if none.

    Raises RemoteError when the remote could not be written.
    """
    from dvc_data.hashfile.hash_info import HashInfo

    remote, present = on_remote(root, md5)
    if remote is None or present:
        return remote
    with dvc_repo(root) as repo, quiet_dvc_logs():
        try:
            result = repo.cloud.push([HashInfo("md5", check_md5(md5))], remote=remote.name)
            if result.failed:  # DVC logs a failed transfer and goes on: find out why
                probe(repo, remote)
                raise RemoteError(f"DVC remote {remote}: the upload failed")
        except RemoteError:
            raise
        except Exception as err:  # any failure of a remote is one line
            raise RemoteError(f"DVC remote {remote}: {describe_failure(err, remote)}") from None
    return remote


def _pull(repo: Any, remote: Remote, md5s: list[str]) -> None:
    """Download objects by hash from ``remote`` into the cache; RemoteError if the remote fails.

    By hash, with the *workspace's* remote configuration: ``dvc fetch`` of an old revision would
    read that revision's ``.dvc/config``, which may predate the remote (DVC then silently skips it).
    """
    from dvc_data.hashfile.hash_info import HashInfo

    check_local_remote(remote)
    wanted = [HashInfo("md5", m) for m in md5s]
    with quiet_dvc_logs():
        try:
            result = repo.cloud.pull(wanted, remote=remote.name)
            if len(result.transferred) < len(wanted):
                probe(repo, remote)
        except RemoteError:
            raise
        except Exception as err:  # any failure of a remote (DVC, OSError, SSH, HTTP) is one line
            raise RemoteError(f"DVC remote {remote}: {describe_failure(err, remote)}") from None
