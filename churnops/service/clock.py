"""The clock seam: the only place the service asks for wall time.

Requests capture ``clock.time()`` (a float, cheap); the log writer formats it as
RFC 3339 UTC off the request path
(:func:`churnops.core.logformat.rfc3339`, part of the log format). Tests pass their own
(``tests.utils.doubles.FixedClock``).
"""

from __future__ import annotations

import time as _time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    def time(self) -> float:
        return _time.time()
