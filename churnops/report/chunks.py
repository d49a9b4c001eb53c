"""How the report cuts a log into chunks: by time or by a count of lines.

By time, a line's chunk is its ``ts`` (UTC) in fixed steps; lines without a readable ``ts``
form the ``undated`` chunk. By count, every N non-blank lines in the order the files are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

UNDATED = -(2**62)
"""The chunk key of lines without a readable ``ts`` when chunking by time."""


@dataclass(frozen=True)
class Chunking:
    """``seconds`` per chunk (by time) or ``lines`` per chunk (by count); exactly one is set."""

    seconds: int | None = None
    lines: int | None = None

    @classmethod
    def parse(cls, text: str) -> Chunking:
        """``1h``, ``6h``, ``1d``, ``30m`` or a line count such as ``5000``; ValueError otherwise."""
        text = text.strip()
        units = {"m": 60, "h": 3600, "d": 86400}
        if text[-1:] in units and text[:-1].isdigit() and int(text[:-1]) > 0:
            return cls(seconds=int(text[:-1]) * units[text[-1]])
        if text.isdigit() and int(text) > 0:
            return cls(lines=int(text))
        raise ValueError(f"{text!r}: expected a duration (30m, 1h, 1d) or a line count (5000)")

    def label(self) -> str:
        if self.lines is not None:
            return f"{self.lines} lines"
        s = self.seconds or 0
        return f"{s // 86400}d" if s % 86400 == 0 else f"{s // 3600}h" if s % 3600 == 0 else f"{s // 60}m"


def ts_seconds(ts: Any) -> float | None:
    """A ``ts`` as epoch seconds (naive stamps are UTC), or None when it is not a time stamp."""
    if type(ts) is not str:
        return None
    try:
        t = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
