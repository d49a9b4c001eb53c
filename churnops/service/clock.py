"""The clock seam: the only place the service asks for wall time.

Requests capture ``clock.time()`` (a cheap float); the log writer formats it off the request path.
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
