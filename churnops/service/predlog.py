"""The prediction-log writer: one JSON line per predicted row, written off the request path.

The record format, its encoding and the rotated files' names belong to :mod:`churnops.predlog`;
this module only gets the lines onto disk.

Guarantees, and how they are kept:

- **Off the hot path.** A request only puts one small tuple on an in-memory queue
  (:class:`BackgroundLogWriter`); a writer thread per worker encodes with orjson and
  appends whatever has accumulated in one ``write()``. ``bench/serve.py`` measures this
  against writing inside the request (``log_mode="sync"``).
- **No torn or interleaved lines across workers.** Every append of whole lines happens
  under an exclusive ``flock`` on a sibling lock file (``<log>.lock``), on an
  ``O_APPEND`` descriptor, with the write completed before the lock is released.
- **Rotation loses nothing.** The size check, the renames (``.1`` newest) and the append
  all happen under that same lock; a worker whose descriptor points at a renamed file
  notices (inode changed) and reopens before writing. By default no rotated file is ever
  deleted (``backups=0``).
- **A killed writer leaves at most one partial line**, at the end of the file.
  Readers skip it (it does not end with a newline), and the next writer to open the file ends that fragment
  with a newline first, so the next record is never glued onto it.
- **Shutdown flushes everything.** ``close()`` drains the queue before returning; the
  app's lifespan calls it. Lines still queued when a process is SIGKILLed are lost (the
  price of keeping disk I/O out of the request); lines already written never are.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol

import orjson

from churnops.predlog import BatchEntry, Entry, RowEntry, encode, rotated_numbers, rotated_path

__all__ = ["BackgroundLogWriter", "BatchEntry", "LogFile", "RowEntry", "SyncLogWriter", "open_log"]

logger = logging.getLogger("churnops.service")


# --------------------------------------------------------------------------- the file


class LogFile:
    """Appends whole lines to a size-rotated JSONL file, safely across processes.

    Args:
        path: the current log file; rotated files sit beside it as ``<name>.1`` (newest), ``.2``...
        max_bytes: rotate before an append would take a non-empty file past this; 0 never rotates.
        backups: rotated files to keep; 0 keeps every one (nothing is ever deleted).
    """

    def __init__(self, path: str | Path, max_bytes: int = 0, backups: int = 0) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        self._fd: int | None = None
        self._ino: int | None = None

    def append(self, data: bytes) -> None:
        """Append ``data`` (whole lines) under the cross-process lock, rotating first if due."""
        if not data:
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            fd = self._current_fd()
            size = os.fstat(fd).st_size
            if self.max_bytes and size > 0 and size + len(data) > self.max_bytes:
                self._rotate()
                fd = self._current_fd()
            _write_all(fd, data)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _current_fd(self) -> int:
        """Our descriptor for ``path``, reopened if a sibling rotated the file away."""
        try:
            ino = os.stat(self.path).st_ino
        except FileNotFoundError:
            ino = None
        if self._fd is None or ino != self._ino:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            st = os.fstat(self._fd)
            self._ino = st.st_ino
            if st.st_size and not _ends_with_newline(self.path, st.st_size):
                # A writer died mid-line: close the fragment so our first record stands alone.
                _write_all(self._fd, b"\n")
        return self._fd

    def _rotate(self) -> None:
        for n in reversed(rotated_numbers(self.path)):
            src = rotated_path(self.path, n)
            if self.backups and n >= self.backups:
                src.unlink(missing_ok=True)
            else:
                os.replace(src, rotated_path(self.path, n + 1))
        os.replace(self.path, rotated_path(self.path, 1))

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) == b"\n"


# --------------------------------------------------------------------------- writers


class PredictionLog(Protocol):
    """The writer seam: the app calls ``submit`` on the request path and ``close`` at shutdown."""

    def submit(self, entry: Entry) -> None: ...

    def close(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


YIELD_EVERY = 32
"""Entries the background writer encodes between two hand-backs of the GIL (~0.1 ms of work)."""


class BackgroundLogWriter:
    """Collects entries on the request path; a daemon thread encodes and appends them in bulk.

    The request side is one ``deque.append`` (atomic under the GIL, ~50 ns, no lock, no
    wake-up). The writer thread wakes every ``interval`` seconds, drains the deque,
    encodes and appends everything in one ``write()``. Waking it on every entry instead
    cost more (GIL hand-offs) than writing in the request. A failing disk does not fail
    requests: lines are kept and retried (up to ``max_pending_bytes``; beyond that the
    oldest are dropped and counted).
    """

    def __init__(self, sink: LogFile, interval: float = 0.02, max_pending_bytes: int = 256 * 1024 * 1024) -> None:
        self.sink = sink
        self.interval = interval
        self.max_pending_bytes = max_pending_bytes
        self._entries: deque[Entry] = deque()
        self._stop = threading.Event()
        self.lines_written = 0
        self.write_errors = 0
        self.encode_errors = 0
        self.dropped_bytes = 0
        self._pending: list[bytes] = []
        self.submit = self._entries.append  # the hot path: no Python frame at all
        self._thread = threading.Thread(target=self._run, name="churnops-predlog", daemon=True)
        self._thread.start()

    def submit(self, entry: Entry) -> None:  # replaced per instance by deque.append (see __init__)
        self._entries.append(entry)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()
        self._drain(final=True)

    def _drain(self, final: bool = False) -> None:
        entries = self._entries
        pending = self._pending
        encoded = 0
        while True:
            try:
                entry = entries.popleft()
            except IndexError:
                break
            try:
                pending.append(encode(entry))
            except Exception:  # a bug must not kill the thread and let the deque grow forever
                self.encode_errors += 1
                logger.exception("prediction log: cannot encode an entry; dropped")
            encoded += 1
            if encoded % YIELD_EVERY == 0:
                # Hand the GIL back to the event loop. Otherwise encoding a 20 ms backlog
                # holds it for up to the 5 ms switch interval, and requests queue behind it:
                # that showed as a p99 of 2-3x the hello endpoint's at one worker.
                time.sleep(0)
        self._flush(final)

    def _flush(self, final: bool = False) -> None:
        attempts = 5 if final else 1
        for attempt in range(attempts):
            if not self._pending:
                return
            data = b"".join(self._pending)
            try:
                self.sink.append(data)
            except OSError as err:
                self.write_errors += 1
                logger.error("prediction log %s: write failed, will retry: %s", self.sink.path, err)
                if attempt + 1 < attempts:
                    time.sleep(0.2)
                continue
            self.lines_written += data.count(b"\n")
            self._pending = []
            return
        while self._pending and sum(map(len, self._pending)) > self.max_pending_bytes:
            self.dropped_bytes += len(self._pending.pop(0))

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then stop the thread and close the file."""
        self._stop.set()
        self._thread.join(timeout)
        self.sink.close()

    def stats(self) -> dict[str, Any]:
        return {
            "path": str(self.sink.path),
            "mode": "background",
            "lines_written": self.lines_written,
            "write_errors": self.write_errors,
            "encode_errors": self.encode_errors,
            "dropped_bytes": self.dropped_bytes,
        }


class SyncLogWriter:
    """Writes each entry inside the request (kept to measure what that costs)."""

    def __init__(self, sink: LogFile) -> None:
        self.sink = sink
        self.lines_written = 0

    def submit(self, entry: Entry) -> None:
        data = encode(entry)
        self.sink.append(data)
        self.lines_written += data.count(b"\n")

    def close(self) -> None:
        self.sink.close()

    def stats(self) -> dict[str, Any]:
        return {"path": str(self.sink.path), "mode": "sync", "lines_written": self.lines_written}


class NullLog:
    """Discards entries (benchmarks of the bare model path only)."""

    def submit(self, entry: Entry) -> None:
        pass

    def close(self) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        return {"mode": "off"}


class MemoryLog:
    """Keeps entries in a list (tests)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.closed = False

    def submit(self, entry: Entry) -> None:
        self.entries.append(entry)

    def close(self) -> None:
        self.closed = True

    def stats(self) -> dict[str, Any]:
        return {"mode": "memory", "entries": len(self.entries)}

    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for e in self.entries for line in encode(e).splitlines()]


def open_log(mode: str, path: str | Path, max_bytes: int = 0, backups: int = 0) -> PredictionLog:
    """The writer that ``Settings.log_mode`` names."""
    if mode == "off":
        return NullLog()
    sink = LogFile(path, max_bytes=max_bytes, backups=backups)
    return SyncLogWriter(sink) if mode == "sync" else BackgroundLogWriter(sink)
