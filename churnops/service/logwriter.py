"""The prediction-log writer: one JSON line per predicted row, written off the request path.

The record format, its encoding and the rotated files' names belong to :mod:`churnops.core.logformat`;
this module only gets the lines onto disk, and turns a refused request into a rejection record.

Guarantees, and how they are kept:

- **Off the hot path.** A request only puts one small tuple on an in-memory queue; a writer
  thread per worker encodes and appends whatever has accumulated (``bench/serve.py`` measures
  this against writing inside the request).
- **No torn or interleaved lines across workers.** Every append of whole lines happens under an
  exclusive ``flock`` on ``<log>.lock``, on an ``O_APPEND`` descriptor.
- **Every append starts on a fresh line**, whatever another process left: unless the file still
  has the size our last append left, the writer reads its last byte under the lock, and a
  killed peer's fragment gets a newline, so it stays one bad line.
- **A failed write leaves nothing behind**: the file is truncated back, still under the lock.
- **Rotation is bounded and loses nothing it keeps.** Size check, renames and append share the
  lock; a worker whose file was renamed away (inode changed) reopens before writing.
  ``backups=0`` keeps every file.
- **Bounded memory, never blocking a request.** A full queue (``max_queue_lines``) drops the
  newest lines; while the disk fails, at most ``max_pending_bytes`` wait for a retry. Both
  count in ``dropped_lines``; ``stats()`` (on ``/health``) says whether the last write succeeded.
- **Shutdown flushes everything.** Lines still queued when a process is SIGKILLed are lost (the
  price of keeping disk I/O out of the request); lines already written never are.

Length: one concern, the writer: queue, background thread, rotation and full-disk
handling interlock (what rotation does while a write fails); the format is core/logformat.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from churnops.core import logformat
from churnops.core.logformat import (
    Entry,
    RejectedValue,
    RejectionEntry,
    encode,
    entry_lines,
    rotated_numbers,
    rotated_path,
)
from churnops.core.schema import BY_NAME

__all__ = ["BackgroundLogWriter", "LogFile", "log_rejection", "open_log"]

logger = logging.getLogger("churnops.service")

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_BACKUPS = 5
"""With the current file, at most ~600 MB of log per log path."""
DEFAULT_QUEUE_LINES = 100_000
"""Lines a worker may hold in memory waiting for the writer (~10 full batches, ~25 MB of records)."""
DEFAULT_PENDING_BYTES = 8 * 1024 * 1024
"""Encoded bytes a worker keeps for a retry while the disk fails."""


class LogFile:
    """Appends whole lines to a size-rotated JSONL file, safely across processes.

    ``max_bytes``: rotate before an append would take a non-empty file past it (0: never);
    ``backups``: rotated files kept (0: all).
    """

    def __init__(self, path: str | Path, max_bytes: int = 0, backups: int = 0) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        self._fd: int | None = None
        self._ino: int | None = None
        self._end: int | None = None  # the file's size after our last write to this inode
        self._end_newline = True

    def append(self, data: bytes) -> None:
        """Append ``data`` (whole lines), rotating first if due; on OSError the file is as it was."""
        if not data:
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            fd = self._current_fd()
            size = os.fstat(fd).st_size
            if self.max_bytes and size > 0 and size + len(data) > self.max_bytes:
                self._rotate()
                fd = self._current_fd()
                size = os.fstat(fd).st_size
            if size == self._end:  # nobody wrote since our last append
                sep = b"" if self._end_newline else b"\n"
            else:
                sep = self._separator(fd, size) if size else b""
            try:
                _write_all(fd, sep + data if sep else data)
            except OSError:
                # A short write (ENOSPC) must not leave half a line for the next append to glue onto.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                self._end = None
                raise
            self._end = size + len(sep) + len(data)
            self._end_newline = data.endswith(b"\n")
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _separator(self, fd: int, size: int) -> bytes:
        """``b"\\n"`` when the file does not end with one (a peer died mid-line), else nothing."""
        return b"" if os.pread(fd, 1, size - 1) == b"\n" else b"\n"

    def _current_fd(self) -> int:
        """Our descriptor for ``path``, reopened if a sibling rotated the file away."""
        try:
            ino = os.stat(self.path).st_ino
        except FileNotFoundError:
            ino = None
        if self._fd is None or ino != self._ino:
            if self._fd is not None:
                os.close(self._fd)
            # Read access too: _separator preads the last byte.
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            self._ino = os.fstat(self._fd).st_ino
            self._end = None
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
        if n == 0:  # pragma: no cover - write(2) returns 0 only for a zero-length request
            raise OSError(errno.EIO, "write returned 0")
        view = view[n:]


class PredictionLog(Protocol):
    """The writer seam: the app calls ``submit`` on the request path and ``close`` at shutdown."""

    def submit(self, entry: Entry) -> None: ...

    def close(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


YIELD_EVERY = 32
"""Entries the background writer encodes between two hand-backs of the GIL (~0.1 ms of work)."""
RETRY_SECONDS = 1.0
"""While writes fail, retry at most this often (a full disk is not fixed in 20 ms)."""
WRITE_CHUNK_BYTES = 1024 * 1024
"""A backlog is appended in writes of about this size (a batch's lines always in one write)."""


class BackgroundLogWriter:
    """Collects entries on the request path; a daemon thread encodes and appends them in bulk.

    ``submit`` runs on the event loop thread only and only the writer thread counts lines taken,
    so each counter has one writer and needs no lock. The thread wakes every ``interval``
    seconds: waking it on every entry cost more (GIL hand-offs) than writing in the request.
    """

    def __init__(
        self,
        sink: LogFile,
        interval: float = 0.02,
        max_queue_lines: int = DEFAULT_QUEUE_LINES,
        max_pending_bytes: int = DEFAULT_PENDING_BYTES,
    ) -> None:
        self.sink = sink
        self.interval = interval
        self.max_queue_lines = max_queue_lines
        self.max_pending_bytes = max_pending_bytes
        self._entries: deque[Entry] = deque()
        self._stop = threading.Event()
        self._submitted = 0  # submit() only
        self._taken = 0  # writer thread only
        self.dropped_full_queue = 0  # submit() only
        self.dropped_unwritten = 0  # writer thread only
        self.lines_written = 0
        self.write_errors = 0
        self.encode_errors = 0
        self.last_error: str | None = None
        self._retry_at = 0.0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._pending_lines = 0
        self._thread = threading.Thread(target=self._run, name="churnops-logwriter", daemon=True)
        self._thread.start()

    def submit(self, entry: Entry) -> None:
        """Queue ``entry``; never blocks (a full queue drops it, counted)."""
        n = entry_lines(entry)
        if self._submitted - self._taken + n > self.max_queue_lines:
            self.dropped_full_queue += n
            return
        self._submitted += n
        self._entries.append(entry)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()
        self._drain(final=True)

    def _drain(self, final: bool = False) -> None:
        if self._pending:
            self._flush(final)  # lines a failed write left: they go first, and make room
        entries = self._entries
        count = 0
        while True:
            try:
                entry = entries.popleft()
            except IndexError:
                break
            n = entry_lines(entry)
            self._taken += n
            count += 1
            if self._pending_bytes >= self.max_pending_bytes:
                self.dropped_unwritten += n  # the disk is failing and the retry buffer is full
                continue
            try:
                data = encode(entry)
            except Exception:  # a bug must not kill the thread and let the deque grow forever
                self.encode_errors += 1
                logger.exception("prediction log: cannot encode an entry; dropped")
                continue
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._pending_lines += n
            if self._pending_bytes >= WRITE_CHUNK_BYTES:
                self._flush(final)  # write a long backlog in pieces: bounded buffers, no huge join
            if count % YIELD_EVERY == 0:
                # Hand the GIL back to the event loop. Otherwise encoding a 20 ms backlog
                # holds it for up to the 5 ms switch interval, and requests queue behind it:
                # that showed as a p99 of 2-3x the hello endpoint's at one worker.
                time.sleep(0)
        self._flush(final)

    def _flush(self, final: bool = False) -> None:
        if not self._pending:
            return
        attempts = 5 if final else 1
        for attempt in range(attempts):
            if not final and time.monotonic() < self._retry_at:
                return
            data = b"".join(self._pending)
            try:
                self.sink.append(data)
            except OSError as err:
                self.write_errors += 1
                first = self.last_error is None
                self.last_error = err.strerror or str(err)
                self._retry_at = time.monotonic() + RETRY_SECONDS
                if first:
                    logger.error("prediction log %s: write failed, will retry: %s", self.sink.path, self.last_error)
                if attempt + 1 < attempts:
                    time.sleep(0.2)
                continue
            if self.last_error is not None:
                logger.warning("prediction log %s: writing again after: %s", self.sink.path, self.last_error)
            self.last_error = None
            self.lines_written += self._pending_lines
            self._pending, self._pending_bytes, self._pending_lines = [], 0, 0
            return
        if final:  # shutting down with a failing disk: what is left is lost, and counted
            self.dropped_unwritten += self._pending_lines
            self._pending, self._pending_bytes, self._pending_lines = [], 0, 0

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then stop the thread and close the file."""
        self._stop.set()
        self._thread.join(timeout)
        self.sink.close()

    def stats(self) -> dict[str, Any]:
        return {
            "path": str(self.sink.path),
            "mode": "background",
            "ok": self.last_error is None,
            "error": self.last_error,
            "lines_written": self.lines_written,
            "dropped_lines": self.dropped_full_queue + self.dropped_unwritten,
            "queued_lines": max(0, self._submitted - self._taken) + self._pending_lines,
            "write_errors": self.write_errors,
            "encode_errors": self.encode_errors,
        }


def open_log(
    path: str | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backups: int = DEFAULT_BACKUPS,
    queue_lines: int = DEFAULT_QUEUE_LINES,
) -> BackgroundLogWriter:
    """The service's prediction log."""
    return BackgroundLogWriter(LogFile(path, max_bytes=max_bytes, backups=backups), max_queue_lines=queue_lines)


_REASONS = {
    "missing": logformat.MISSING,
    "extra_forbidden": logformat.UNKNOWN_KEY,
    "literal_error": logformat.UNKNOWN_CATEGORY,
    "enum": logformat.UNKNOWN_CATEGORY,
    "greater_than": logformat.OUT_OF_RANGE,
    "greater_than_equal": logformat.OUT_OF_RANGE,
    "less_than": logformat.OUT_OF_RANGE,
    "less_than_equal": logformat.OUT_OF_RANGE,
    "finite_number": logformat.OUT_OF_RANGE,
    "too_short": logformat.BATCH_SIZE,
    "too_long": logformat.BATCH_SIZE,
    "dict_type": logformat.NOT_AN_OBJECT,
    "model_type": logformat.NOT_AN_OBJECT,
    "typed_dict_type": logformat.NOT_AN_OBJECT,
    "model_attributes_type": logformat.NOT_AN_OBJECT,
}
"""pydantic error types -> the log's rejection reasons; any other ``*_type``/``*_parsing`` is a wrong type."""


def rejected_value(error: Mapping[str, Any]) -> RejectedValue:
    """One pydantic validation error of a /predict or /predict/batch body, in log terms."""
    loc = tuple(error.get("loc", ()))
    kind = str(error.get("type", ""))
    item: int | None = None
    path = loc
    if path[:1] == ("items",):  # a batch: ("items", 3, "plan")
        path = path[1:]
        if path and type(path[0]) is int:
            item, path = path[0], path[1:]
    name = path[0] if len(path) == 1 and isinstance(path[0], str) else None
    reason = _REASONS.get(kind)
    if reason is None:
        reason = logformat.WRONG_TYPE if kind.endswith(("_type", "_parsing", "_from_float")) else logformat.INVALID
    value = error.get("input")
    if reason == logformat.UNKNOWN_CATEGORY and not isinstance(value, str):
        reason = logformat.WRONG_TYPE
    if reason == logformat.MISSING:
        value = None
    field = name if name in BY_NAME and reason != logformat.UNKNOWN_KEY else None
    return RejectedValue(field, item, reason, logformat.small_value(value), ".".join(map(str, loc)) or "(body)")


def log_rejection(request: Any, errors: Sequence[Mapping[str, Any]], n_errors: int | None = None) -> None:
    """Queue a rejection record for a request refused with 422; never raises (a 422 stays a 422).

    Converts at most ``MAX_REJECTION_ERRORS`` errors: the cost is bounded whatever the request held.
    """
    try:
        state = request.app.state
        log = getattr(state, "prediction_log", None)
        if log is None:
            return
        head = [rejected_value(e) for e in errors[: logformat.MAX_REJECTION_ERRORS]]
        scope_state = request.scope.get("state") or {}
        log.submit(
            RejectionEntry(
                state.clock.time(),
                str(scope_state.get("request_id", "")),
                request.scope.get("path", ""),
                head,
                len(errors) if n_errors is None else n_errors,
            )
        )
    except Exception:  # pragma: no cover - defensive: a 422 must stay a 422
        logger.exception("prediction log: cannot record a rejected request")
