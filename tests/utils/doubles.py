"""Test doubles for the service's seams (kept out of the package)."""

from __future__ import annotations


class FixedClock:
    """A clock that says what it is told: satisfies ``churnops.service.clock.Clock``."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def time(self) -> float:
        return self.t
