"""Read the newest lines of one or several (rotated) JSON-lines logs without reading them whole.

A prediction log can hold millions of lines; the monitor needs the last few hundred. Files
are read backwards in fixed-size blocks, so the time and memory of :func:`read_window` depend
on the window size, not on the size of the log nor on what its tail holds.

"The newest N lines" are the newest N across the rotated files
(:func:`churnops.core.logformat.log_files`); several logs (one per replica) are merged by time
stamp. Every non-blank line is part of the window, valid or not: bad traffic counts against
data quality instead of being replaced by older lines.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from churnops.core.errors import InputError
from churnops.core.logformat import log_files as rotated_files  # noqa: F401 - named here by callers
from churnops.core.logsource import Segment, Source, live_source, resolve
from churnops.monitor.records import Entry

BLOCK_SIZE = 64 * 1024
"""Bytes read per backward step: about 250 log records, so last_n=500 takes ~3 reads."""
MAX_LINE_BYTES = 64 * 1024
"""Longer lines are ``too_long``, never held whole (a prediction is ~300 bytes, a rejection < 4 KiB):
a window of ``last_n`` lines never reads more than ``last_n * MAX_LINE_BYTES`` bytes."""

TOO_LONG = object()


class LogReadError(OSError):
    """A log file exists but cannot be read (permissions, a directory, an I/O error)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a log, without its newline, or :data:`TOO_LONG`."""

    data: Any
    terminated: bool
    file_index: int


def _reverse_lines(fh: BinaryIO, size: int, file_index: int, block_size: int, max_line_bytes: int) -> Iterator[Line]:
    """Yield the lines of the first ``size`` bytes of ``fh``, last line first."""
    pos = size
    # The line whose start is not read yet, as parts in file order: a long line costs O(length).
    carry: list[bytes] = []
    carry_len = 0
    too_long = False
    terminated = True
    first = True
    while pos > 0:
        step = min(block_size, pos)
        pos -= step
        fh.seek(pos)
        block = fh.read(step)
        if len(block) != step:  # the file shrank under us (truncated): read what is there
            raise LogReadError(f"{fh.name}: file changed size while being read")
        if first:
            first = False
            if block.endswith(b"\n"):
                block = block[:-1]
            else:
                terminated = False
        pieces = block.split(b"\n")
        # pieces[-1] continues the carried line; pieces[0] may continue into the previous block.
        for i in range(len(pieces) - 1, 0, -1):
            piece = pieces[i]
            if i == len(pieces) - 1:
                if too_long or carry_len + len(piece) > max_line_bytes:
                    data: Any = TOO_LONG
                else:
                    data = b"".join([piece, *carry]) if carry else piece
                carry, carry_len, too_long = [], 0, False
            else:
                data = piece if len(piece) <= max_line_bytes else TOO_LONG
            yield Line(data, terminated, file_index)
            terminated = True
        head = pieces[0]
        if len(pieces) == 1:
            if not too_long:
                carry.insert(0, head)
                carry_len += len(head)
        else:
            carry, carry_len, too_long = [head], len(head), False
        if carry_len > max_line_bytes:
            carry, carry_len, too_long = [], 0, True
    if size > 0:
        data = TOO_LONG if too_long else b"".join(carry)
        yield Line(data, terminated, file_index)


def _segment_newest_first(
    segment: Segment, index: int, block_size: int, max_line_bytes: int, max_lines: int | None
) -> Iterator[Line]:
    """One segment's lines, newest first: a file on disk backwards; a compressed object forwards,
    keeping only its last ``max_lines`` lines (it cannot be read backwards; it is read only once
    the newer, local files did not hold the window)."""
    if segment.path is None:
        with segment.open() as fh:
            yield from reversed(_last_lines(fh, index, max_line_bytes, max_lines))
        return
    file = segment.path
    try:
        fh = open(file, "rb")  # noqa: SIM115 - closed in finally; a generator holds it across yields
    except FileNotFoundError:
        return  # rotated away between listing and opening: nothing to read there
    except OSError as err:
        raise LogReadError(f"{file}: cannot read log: {err.strerror or err}") from None
    try:
        try:
            size = os.fstat(fh.fileno()).st_size
            yield from _reverse_lines(fh, size, index, block_size, max_line_bytes)
        except IsADirectoryError:
            raise LogReadError(f"{file}: cannot read log: is a directory") from None
        except LogReadError:
            raise
        except OSError as err:
            raise LogReadError(f"{file}: cannot read log: {err.strerror or err}") from None
    finally:
        fh.close()


def _last_lines(fh: IO[bytes], index: int, max_line_bytes: int, max_lines: int | None) -> list[Line]:
    last: deque[Line] = deque(maxlen=max_lines)
    while line := fh.readline(max_line_bytes + 1):
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while (rest := fh.readline(max_line_bytes + 1)) and not rest.endswith(b"\n"):
                pass  # skip the rest of an overlong line without holding it
            last.append(Line(TOO_LONG, True, index))
            continue
        terminated = line.endswith(b"\n")
        last.append(Line(line[:-1] if terminated else line, terminated, index))
    return list(last)


def iter_source_newest_first(
    source: Source, block_size: int = BLOCK_SIZE, max_line_bytes: int = MAX_LINE_BYTES, max_lines: int | None = None
) -> Generator[Line, None, None]:
    """Every line of one source (:mod:`churnops.core.logsource`), newest first; LogReadError if one cannot be read.

    Each file is read up to its size when opened: lines appended meanwhile are the next run's.
    """
    if block_size < 1:
        raise ValueError("block_size must be >= 1")
    for index, segment in enumerate(reversed(source.segments)):
        try:
            yield from _segment_newest_first(segment, index, block_size, max_line_bytes, max_lines)
        except InputError as err:
            raise LogReadError(str(err)) from None


def iter_lines_newest_first(
    path: str | Path, block_size: int = BLOCK_SIZE, max_line_bytes: int = MAX_LINE_BYTES
) -> Generator[Line, None, None]:
    """Every line of the live log at ``path`` and its rotated files, newest first."""
    yield from iter_source_newest_first(live_source(Path(path)), block_size, max_line_bytes)


def _ts_key(ts: Any) -> float | None:
    if type(ts) is not str:
        return None
    try:
        return datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return None


@dataclass
class Window:
    """The outcome of :func:`read_window`."""

    entries: list[Any]  # oldest first
    files: list[str] = field(default_factory=list)
    """Every file or archived object the window could read (their labels)."""
    blank_lines: int = 0
    lines_read: int = 0
    """Every line looked at, blank ones included: at most ``2 n + sources``."""


class _Stream:
    """One source's lines newest first, classified, with a merge key from ``ts``."""

    def __init__(
        self,
        source: Source,
        parse: Callable[[bytes], Any],
        block_size: int,
        max_line_bytes: int,
        merge: bool,
        max_lines: int,
    ) -> None:
        self.lines = iter_source_newest_first(source, block_size, max_line_bytes, max_lines)
        self.parse = parse
        self.merge = merge  # only a merge of several logs needs the time stamps
        self.key = math.inf  # a line without ts sorts with its newer neighbour (the first: first)
        self.head: Any = None
        self.done = False

    def advance(self, window: Window, blank_allowance: int) -> None:
        """Load the next non-blank line into ``head`` (``done`` when there is none)."""
        for line in self.lines:
            window.lines_read += 1
            if line.data is TOO_LONG:
                self.head = _invalid("too_long")
                return
            if not line.data.strip():
                if window.blank_lines < blank_allowance:
                    window.blank_lines += 1
                    continue
                self.head = _invalid("empty")
                return
            entry = self.parse(line.data)
            # An unterminated last line that is not JSON is a write cut short (crash, full
            # disk, or a write in progress): its own reason, so it is recognisable.
            if not line.terminated and entry.reason in ("invalid_json", "binary"):
                entry = _invalid("partial")
            if self.merge:
                key = _ts_key(entry.ts)
                if key is not None:
                    self.key = key
            self.head = entry
            return
        self.done = True
        self.head = None


def _invalid(reason: str) -> Entry:
    return Entry(reason=reason)


def read_window(
    logs: str | Path | Sequence[str | Path],
    n: int,
    parse: Callable[[bytes], Any],
    block_size: int = BLOCK_SIZE,
    max_line_bytes: int = MAX_LINE_BYTES,
    blank_allowance: int | None = None,
) -> Window:
    """The newest ``n`` lines of one or several logs, valid or not, classified by ``parse``.

    At most ``n`` lines plus ``blank_allowance`` blank ones (default ``n``) are read: the cost is
    bounded whatever the tail holds. A line without a readable ``ts`` keeps the position of its
    newer neighbour in its own log. Raises LogReadError when a log exists but cannot be read.
    """
    try:
        sources = resolve(logs)
    except InputError as err:
        raise LogReadError(str(err)) from None
    window = Window(entries=[], files=[seg.label for s in sources for seg in s.segments])
    allowance = n if blank_allowance is None else blank_allowance
    if n <= 0:
        return window
    most = n + allowance + 1
    streams = [_Stream(s, parse, block_size, max_line_bytes, len(sources) > 1, most) for s in sources]
    for s in streams:
        s.advance(window, allowance)
    newest_first: list[Any] = []
    while len(newest_first) < n:
        live = [s for s in streams if not s.done]
        if not live:
            break
        best = live[0] if len(live) == 1 else max(live, key=lambda s: s.key)
        newest_first.append(best.head)
        if len(newest_first) < n:
            best.advance(window, allowance)
    for s in streams:
        s.lines.close()
    newest_first.reverse()
    window.entries = newest_first
    return window
