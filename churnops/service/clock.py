"""The clock seam: the only place the service asks for wall time.

Requests capture ``clock.time()`` (a float, cheap); the log writer formats it as
RFC 3339 UTC off the request path. Tests pass a :class:`FixedClock`.
"""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    def time(self) -> float:
        return _time.time()


class FixedClock:
    """A clock that says what it is told (for tests)."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def time(self) -> float:
        return self.t


_last: tuple[int, str] = (-1, "")


def rfc3339(ts: float) -> str:
    """``2023-11-14T22:13:20.250000Z``: RFC 3339, UTC, microseconds.

    The whole-second prefix is cached: the log formats thousands of stamps per second.
    """
    global _last
    us = round(ts * 1_000_000)
    sec, frac = divmod(us, 1_000_000)
    cached_sec, prefix = _last
    if sec != cached_sec:
        prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last = (sec, prefix)
    return f"{prefix}.{frac:06d}Z"
