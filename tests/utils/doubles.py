"""Test doubles for the service's seams (kept out of the package).

The two prediction-log writers here satisfy ``churnops.service.logwriter.PredictionLog``, like
the service's background writer, and exist to measure or to test around it:
``bench/serve.py`` serves with them to show what logging costs (in the request, or not at
all), and the rotation tests use the synchronous one to append entry by entry.
"""

from __future__ import annotations

from typing import Any

from churnops.core.logformat import Entry, encode, entry_lines
from churnops.service.logwriter import LogFile


class FixedClock:
    """A clock that says what it is told: satisfies ``churnops.service.clock.Clock``."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def time(self) -> float:
        return self.t


class SyncLogWriter:
    """Encodes and appends each entry inside the request (what the background writer avoids)."""

    def __init__(self, sink: LogFile) -> None:
        self.sink = sink
        self.lines_written = 0
        self.dropped_lines = 0
        self.last_error: str | None = None

    def submit(self, entry: Entry) -> None:
        data = encode(entry)
        try:
            self.sink.append(data)
        except OSError as err:  # a full disk must not turn a prediction into a 500
            self.dropped_lines += entry_lines(entry)
            self.last_error = err.strerror or str(err)
            return
        self.last_error = None
        self.lines_written += entry_lines(entry)

    def close(self) -> None:
        self.sink.close()

    def stats(self) -> dict[str, Any]:
        return {
            "path": str(self.sink.path),
            "mode": "sync",
            "ok": self.last_error is None,
            "error": self.last_error,
            "lines_written": self.lines_written,
            "dropped_lines": self.dropped_lines,
        }


class NullLog:
    """Discards every entry: the bare model path, for benchmarks."""

    def submit(self, entry: Entry) -> None:
        pass

    def close(self) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        return {"path": "/dev/null", "mode": "off"}  # /health shows every writer's path
