"""Read the newest records of a (rotated) JSON-lines log without reading the whole log.

A prediction log can hold millions of lines; the monitor needs the last few hundred.
:func:`iter_lines_newest_first` seeks to the end of each file and reads it backwards in
fixed-size blocks, so the time and memory of :func:`tail_records` depend on the number of
records asked for, not on the size of the log.

Rotation follows the format's naming (:func:`churnops.predlog.log_files`): ``X`` is the live
file, ``X.1`` the most recently rotated one, ``X.2`` older, and so on. "The last N records" are the newest N
across all of them. Compressed backups (``X.1.gz``) are not read.

Lines that are not records (a partial last line after a crash, invalid JSON, binary
junk, a record failing the feature schema) are skipped and counted by reason, never
fatal. The log is opened read-only and never modified.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnops.predlog import log_files as rotated_files

BLOCK_SIZE = 64 * 1024
"""Bytes read per backward step: about 250 log records, so last_n=500 takes ~3 reads."""
MAX_LINE_BYTES = 1024 * 1024
"""Longer lines are skipped as ``too_long`` without ever being held in memory whole
(a record is ~250 bytes; a megabyte of bytes without a newline is junk, not a record)."""

TOO_LONG = object()
"""Sentinel yielded instead of the bytes of a line longer than ``max_line_bytes``."""


class LogReadError(OSError):
    """A log file exists but cannot be read (permissions, a directory, an I/O error)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a log, newest first.

    ``data`` is the line without its newline, or :data:`TOO_LONG`. ``terminated`` is
    false only for the last line of a file that does not end with a newline.
    """

    data: Any
    terminated: bool
    file_index: int


def _reverse_lines(fh, size: int, file_index: int, block_size: int, max_line_bytes: int) -> Iterator[Line]:
    """Yield the lines of the first ``size`` bytes of ``fh``, last line first."""
    pos = size
    # The bytes after the last newline seen so far, as parts in file order; they belong to a
    # line whose start has not been read yet. Kept as parts so a long line costs O(length).
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
            # No newline in this block: all of it belongs to the line being assembled.
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


def iter_lines_newest_first(
    path: str | Path, block_size: int = BLOCK_SIZE, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Line]:
    """Yield every line of the log and its backups, newest first.

    Each file is read only up to the size it had when opened, so lines appended while
    the monitor reads are simply not seen (the next run sees them).

    Raises:
        LogReadError: a file exists but cannot be opened or read.
    """
    if block_size < 1:
        raise ValueError("block_size must be >= 1")
    for index, file in enumerate(rotated_files(path)):
        try:
            fh = open(file, "rb")  # noqa: SIM115 - closed in finally; a generator holds it across yields
        except FileNotFoundError:
            continue  # rotated away between listing and opening: nothing to read there
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


@dataclass
class Tail:
    """The outcome of :func:`tail_records`."""

    records: list[Any]
    """Accepted records, oldest first (the newest record is last)."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Lines examined but not accepted, per reason."""
    files: list[Path] = field(default_factory=list)
    """The log files that exist, newest first."""

    @property
    def skipped_lines(self) -> int:
        return sum(self.skipped.values())


ParseResult = tuple[Any, None] | tuple[None, str]
"""``(record, None)`` for an accepted line, ``(None, reason)`` for a skipped one."""


def tail_records(
    path: str | Path,
    n: int,
    parse: Callable[[bytes], ParseResult],
    block_size: int = BLOCK_SIZE,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Tail:
    """Return the newest ``n`` lines that ``parse`` accepts, across rotated files.

    Only the lines between the end of the log and the ``n``-th accepted record are
    examined, so skipped-line counts describe that window, not the whole log.

    Args:
        path: the live log file ``X`` (backups ``X.1``, ``X.2``... are found beside it).
        n: how many accepted records to return (fewer if the log holds fewer).
        parse: turns one line (without newline) into ``(record, None)`` or ``(None, reason)``.

    Raises:
        LogReadError: a log file exists but cannot be read.
    """
    records: list[Any] = []
    skipped: Counter[str] = Counter()
    files = rotated_files(path)
    if n > 0:
        for line in iter_lines_newest_first(path, block_size, max_line_bytes):
            if line.data is TOO_LONG:
                skipped["too_long"] += 1
                continue
            if not line.data.strip():
                skipped["empty"] += 1
                continue
            record, reason = parse(line.data)
            if reason is not None:
                # An unterminated last line that does not parse is a write cut short (crash,
                # full disk, or a write in progress): its own reason, so it is recognisable.
                skipped["partial" if not line.terminated else reason] += 1
                continue
            records.append(record)
            if len(records) >= n:
                break
    records.reverse()
    return Tail(records=records, skipped=skipped, files=files)
