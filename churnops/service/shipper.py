"""Ship rotated prediction-log files to the archive, then let retention delete the shipped ones.

One pass (:func:`ship`) is what ``churnops logs ship`` runs from a timer, and what each worker's
:class:`ArchiveShipper` thread runs every ``interval`` seconds when the service has an archive:

1. every rotated file ``X.n`` (oldest first) is hashed; unless the archive already holds its
   name (:func:`churnops.core.archive.object_name`), it is gzip-compressed to a temporary file
   and put, and the put returns only once the archive confirms it;
2. then, under the writer's own lock (``X.lock``: no rotation renames files meanwhile), the
   rotated files beyond the newest ``keep`` are deleted, but only those confirmed in step 1,
   recognised by inode (a rotation may have renumbered them since).

A crash anywhere leaves either the file on disk or the file on disk and in the archive; the
next pass finds the name present and only deletes. A failing archive raises before step 2:
nothing is deleted, and the rotated files wait (local disk grows: that is the price of never
losing a line). The writer keeps every rotated file when an archive is set: deleting is this
module's job, because only it knows what the archive holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from churnops.core.archive import Archive, default_host, object_name, open_archive
from churnops.core.errors import ArchiveError
from churnops.core.logformat import TS, rotated_numbers, rotated_path

logger = logging.getLogger("churnops.service")

GZIP_LEVEL = 6
"""zlib's default: ~8x smaller on this log at ~40 MB/s per core; 9 buys a few % for 3x the CPU."""


@dataclass
class ShipReport:
    shipped: list[str] = field(default_factory=list)
    """Object names put by this pass."""
    present: list[str] = field(default_factory=list)
    """Object names the archive already held (a pass before was cut short after its put)."""
    deleted: list[Path] = field(default_factory=list)


def _digest(fh: IO[bytes]) -> tuple[str, str | None]:
    """(sha256 of the whole file, the ``ts`` of its first line or None), in one read."""
    import orjson

    h = hashlib.sha256()
    first = fh.readline(64 * 1024)
    h.update(first)
    while block := fh.read(1 << 20):
        h.update(block)
    try:
        doc = orjson.loads(first)
        ts = doc.get(TS) if isinstance(doc, dict) else None
    except orjson.JSONDecodeError:
        ts = None
    return h.hexdigest(), ts if isinstance(ts, str) else None


FileId = tuple[int, int, int, int]
"""(device, inode, size, mtime_ns) of a rotated file: rotated files never change, renames keep these."""


def ship(
    log: str | Path, archive: Archive, keep: int, host: str | None = None, known: dict[FileId, str] | None = None
) -> ShipReport:
    """One pass over ``log``'s rotated files; ArchiveError (and nothing deleted) if the archive fails.

    ``keep``: rotated files kept on disk once shipped (0 keeps all, like the writer's ``backups``).
    ``known``: files this process has already seen confirmed, and their names, filled in here: a
    long-running shipper neither re-hashes nor re-asks about the files retention keeps.
    """
    log = Path(log)
    host = host or default_host()
    report = ShipReport()
    confirmed: set[tuple[int, int]] = set()
    for n in reversed(rotated_numbers(log)):
        try:
            fh = open(rotated_path(log, n), "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            continue  # renumbered by a rotation meanwhile: the next pass sees it
        except OSError as err:
            raise ArchiveError(f"{rotated_path(log, n)}: cannot read: {err.strerror or err}") from None
        with fh:
            st = os.fstat(fh.fileno())
            fid = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            if known is not None and fid in known:
                report.present.append(known[fid])
                confirmed.add(fid[:2])
                continue
            sha, first_ts = _digest(fh)
            name = object_name(first_ts, host, log.name, sha)
            if archive.has(name, sha):
                report.present.append(name)
            else:
                fh.seek(0)
                with tempfile.TemporaryFile() as gz:
                    # mtime=0: the same file compresses to the same bytes on every try.
                    with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as z:
                        shutil.copyfileobj(fh, z, 1 << 20)
                    gz.seek(0)
                    archive.put(name, gz, sha)
                report.shipped.append(name)
            confirmed.add(fid[:2])
            if known is not None:
                known[fid] = name
    if keep > 0:
        gone = _apply_retention(log, keep, confirmed)
        report.deleted = [path for path, _ in gone]
        if known is not None:  # an inode is reused once its file is gone: forget it at once
            ids = {i for _, i in gone}
            for fid in [f for f in known if f[:2] in ids]:
                del known[fid]
    return report


def _apply_retention(log: Path, keep: int, confirmed: set[tuple[int, int]]) -> list[tuple[Path, tuple[int, int]]]:
    deleted = []
    lock_fd = os.open(log.with_name(log.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        for n in rotated_numbers(log):
            if n <= keep:
                continue
            path = rotated_path(log, n)
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(path)
                if (st.st_dev, st.st_ino) in confirmed:
                    path.unlink()
                    deleted.append((path, (st.st_dev, st.st_ino)))
    finally:
        os.close(lock_fd)  # closing releases the flock
    return deleted


class ArchiveShipper:
    """A worker's background shipping loop; workers of one log take turns (a non-blocking flock)."""

    def __init__(self, log: str | Path, archive: str, keep: int, interval: float, project: Path | None = None) -> None:
        self.log = Path(log)
        self.archive = open_archive(archive, project)
        self.keep = keep
        self.interval = interval
        self.last_error: str | None = None
        self.objects_shipped = 0
        self._known: dict[FileId, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="churnops-shipper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.ship_once()

    def ship_once(self) -> None:
        fd = os.open(self.log.with_name(self.log.name + ".ship.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a sibling worker is shipping this log right now
            try:
                report = ship(self.log, self.archive, self.keep, known=self._known)
            except ArchiveError as err:
                if str(err) != self.last_error:  # one line per new cause, not one per round
                    logger.error("log archive: shipping failed, nothing deleted: %s", err)
                self.last_error = str(err)
                return
            except Exception:  # a bug must not kill the thread; the files stay on disk
                logger.exception("log archive: shipping failed, nothing deleted")
                return
            if self.last_error is not None:
                logger.warning("log archive: shipping again after: %s", self.last_error)
            self.last_error = None
            self.objects_shipped += len(report.shipped)
        finally:
            os.close(fd)

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        return {"archive": self.archive.url, "ok": self.last_error is None, "error": self.last_error,
                "objects_shipped": self.objects_shipped}  # fmt: skip
