"""Read a whole prediction log in tests, through the format module's parser.

The service has no "read everything" function (the monitor reads the tail, see
:mod:`churnops.monitor.tail`); tests want every line, oldest first, with what was skipped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnops.core.logformat import Invalid, Prediction, Rejection, log_files, parse_line


@dataclass
class LogContents:
    predictions: list[dict[str, Any]] = field(default_factory=list)
    """Prediction records as logged (raw JSON objects), oldest first."""
    rejections: list[Rejection] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """Lines that are no record, per reason; ``partial`` is an unterminated last line."""
    lines: int = 0

    @property
    def ids(self) -> list[str]:
        return [r["request_id"] for r in self.predictions]


def read_log(path: Path, rotated: bool = False) -> LogContents:
    """Every line of the log at ``path`` (and its rotated files, oldest first, if ``rotated``)."""
    out = LogContents()
    files = list(reversed(log_files(path))) if rotated else [path]
    for file in files:
        data = file.read_bytes()
        lines = data.split(b"\n")
        last = lines.pop()  # b"" when the file ends with a newline
        for line in lines:
            out.lines += 1
            _add(out, parse_line(line))
        if last:
            out.lines += 1
            out.skipped["partial"] += 1
    return out


def _add(out: LogContents, parsed: Prediction | Rejection | Invalid) -> None:
    if isinstance(parsed, Prediction):
        out.predictions.append(parsed.raw)
    elif isinstance(parsed, Rejection):
        out.rejections.append(parsed)
    else:
        out.skipped[parsed.reason] += 1
