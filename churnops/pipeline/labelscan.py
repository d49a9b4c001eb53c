"""One read of the prediction log for the label join: per label, only its winning line so far.

:func:`churnops.pipeline.labeljoin.join` pairs each label with the newest prediction of its
customer not later than its ``observed_at``. :class:`Scan` reads the log once, in blocks, and
keeps per *slot* (the labels of one customer with one ``observed_at``) the winning line so far,
raw: memory follows the labels, not the log.

Speed: a block whose lines all have the head the service and ``generate`` write (:data:`_LINE`)
is read with one regex call and decided with numpy, no line parsed. Any other block is read
line by line with :func:`churnops.core.logformat.parse_line`. Lines taken on their head are
parsed at the end, when they decide something (:meth:`Scan.settle`); if one is not the
prediction its head said (a torn or hand-made line), the caller reads again with every line
parsed (``parse_all``), so the result is always the parsed log's.

Length: one concern, the scan's state and its two ways of reading a block, which must agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, BinaryIO

import numpy as np

from churnops.core.logformat import Prediction, parse_line

BLOCK_BYTES = 1 << 20
"""A block: a few calls per block instead of per line, small enough to stay in the CPU's cache."""


@dataclass(frozen=True, slots=True)
class Logged:
    """One logged prediction that names a customer."""

    ts: str
    """The ``ts`` as logged, "" when there is none (older than any stamped record)."""
    model_version: str | None
    probability: float | None
    churn: bool | None
    features: dict[str, Any]


def logged(line: bytes) -> tuple[str, Logged] | None:
    """(customer_id, record) of a line a label can join, else None: a prediction naming a customer, with features."""
    rec = parse_line(line)
    if not isinstance(rec, Prediction) or rec.customer_id is None or rec.features is None:
        return None
    p = rec.churn_probability
    return rec.customer_id, Logged(
        rec.ts or "",
        rec.model_version,
        float(p) if type(p) in (int, float) and rec.model_version else None,
        rec.churn if type(rec.churn) is bool else None,
        rec.features,
    )


# Each line of a block (a block starts with a newline): (line, ts, customer_id) when the line has
# the writers' head up to its customer_id, else (line, "", ""). Strings hold no quote, backslash
# or control character, so each is spelled literally and the match is the record's top level;
# the key counts of :meth:`Scan._fast` rule out the same key again later in the line.
_S = rb'[^"\\\x00-\x1f]*'
_LINE = re.compile(
    rb'\n((?:\{(?:"ts":"(' + _S + rb')",)?(?:"request_id":"' + _S + rb'",)?(?:"model_version":"' + _S + rb'",)?'
    rb'(?:"item":-?[0-9]+,)?"customer_id":"(' + _S + rb')")?[^\n]*)'
)


def blocks(stream: BinaryIO) -> Iterator[bytes]:
    """A stream as blocks of whole lines, each after a newline (a line starts after ``\\n``)."""
    rest = b""
    while block := stream.read(BLOCK_BYTES):
        cut = block.rfind(b"\n") + 1
        if cut:
            yield b"\n" + rest + block[:cut]
            rest = block[cut:]
        else:
            rest += block
    if rest:
        yield b"\n" + rest


class Scan:
    """Per slot, the newest eligible line read so far; per slot, a line after its ``observed_at``; the oldest ts.

    Slots are numbered; ``customers`` maps a customer_id to its slots' range (they are contiguous).
    """

    def __init__(self, slot_customers: Sequence[str], slot_observed: Sequence[str | None], parse_all: bool) -> None:
        n = len(slot_customers)
        self.parse_all = parse_all
        self.customers: dict[bytes, int] = {}
        self.slot_customer = [c.encode() for c in slot_customers]
        first: list[int] = []
        for s, c in enumerate(self.slot_customer):
            if c not in self.customers:
                self.customers[c] = len(first)
                first.append(s)
            elif self.slot_customer[s - 1] != c:
                raise ValueError("a customer's slots must be contiguous")
        self.first = np.array(first, dtype=np.int64)
        self.count = np.diff(np.append(self.first, n))
        # Stamps stay bytes objects (object arrays): numpy's own strings would drop a trailing NUL.
        self.observed = np.array([(o or "").encode() for o in slot_observed], dtype=object)
        self.has_observed = np.array([o is not None for o in slot_observed], dtype=bool)
        self.best_ts = np.full(n, b"", dtype=object)
        self.has_best = np.zeros(n, dtype=bool)
        self.best_pos = np.zeros(n, dtype=np.int64)
        self.best_line: list[bytes] = [b""] * n
        self.later: list[bytes | None] = [None] * n
        self.has_later = np.zeros(n, dtype=bool)
        self.oldest: bytes | None = None
        self.oldest_line = b""
        self.position = 0
        """Lines read so far (a line's position is its 1-based number in the whole log)."""

    def read(self, streams: Iterable[BinaryIO]) -> None:
        for stream in streams:
            for block in blocks(stream):
                if self.parse_all or not self._fast(block):
                    self._slow(block)
                self.position += block.count(b"\n") - block.endswith(b"\n")

    def _fast(self, block: bytes) -> bool:
        """Decide a block on its lines' heads; False (nothing taken) when a line may need parsing."""
        if b"\\" in block:
            return False
        found = _LINE.findall(block)
        if block.endswith(b"\n"):
            found.pop()  # the block's last newline ends a line and starts none
        if not found:
            return True
        lines, stamps, ids = zip(*found, strict=True)
        named = len(ids) - ids.count(b"")
        if block.count(b'"customer_id"') != named or block.count(b'"ts"') != block.count(b'\n{"ts":"'):
            return False  # a key again later in a line, or a customer_id not in a writer's head
        low = min(filter(None, stamps), default=None)
        if low is not None and (self.oldest is None or low < self.oldest):
            self.oldest, self.oldest_line = low, lines[stamps.index(low)]
        customer = np.fromiter(map(self.customers.get, ids, repeat(-1)), dtype=np.int64, count=len(ids))
        rows = np.flatnonzero(customer >= 0)
        if not rows.size:
            return True
        cust = customer[rows]
        count = self.count[cust]
        slot = self.first[cust]
        if (count > 1).any():  # a customer labeled at several observed_at: a row per slot
            rows, slot = np.repeat(rows, count), np.repeat(slot, count)
            starts = np.repeat(np.cumsum(count) - count, count)
            slot = slot + np.arange(len(slot)) - starts
        ts = np.array(stamps, dtype=object)[rows]
        eligible = ~self.has_observed[slot] | (ts == b"") | (ts <= self.observed[slot])
        self._take_newest(slot[eligible], ts[eligible], rows[eligible], lines)
        later = ~eligible & ~self.has_later[slot]
        for s, i in zip(slot[later].tolist(), rows[later].tolist(), strict=True):
            if self.later[s] is None:
                self.later[s] = lines[i]
        self.has_later[slot[later]] = True
        return True

    def _take_newest(self, slot: np.ndarray, ts: np.ndarray, rows: np.ndarray, lines: Sequence[bytes]) -> None:
        """Per slot, the newest of these rows (latest ts, then latest row) if newer than its winner so far."""
        if not slot.size:
            return
        order = np.lexsort((rows, ts, slot))
        last = np.ones(len(order), dtype=bool)
        last[:-1] = slot[order][1:] != slot[order][:-1]
        pick = order[last]
        slot, ts, rows = slot[pick], ts[pick], rows[pick]
        newer = ts >= self.best_ts[slot]  # rows come after every winner so far: a tie on ts is newer
        slot, ts, rows = slot[newer], ts[newer], rows[newer]
        self.best_ts[slot] = ts
        self.has_best[slot] = True
        self.best_pos[slot] = self.position + rows + 1
        best = self.best_line
        for s, i in zip(slot.tolist(), rows.tolist(), strict=True):
            best[s] = lines[i]

    def _slow(self, block: bytes) -> None:
        """Parse each line that may name a customer (a customer_id key, or escapes that may spell one)."""
        for i, line in enumerate(block.split(b"\n")[1:]):
            if b'"customer_id"' not in line and b"\\" not in line:
                continue
            hit = logged(line)
            if hit is None:
                continue
            ts = hit[1].ts.encode()
            if ts and (self.oldest is None or ts < self.oldest):
                self.oldest, self.oldest_line = ts, line
            k = self.customers.get(hit[0].encode())
            if k is None:
                continue
            first = int(self.first[k])
            for s in range(first, first + int(self.count[k])):
                if not self.has_observed[s] or not ts or ts <= self.observed[s]:
                    if ts >= self.best_ts[s]:
                        self.best_ts[s], self.has_best[s], self.best_pos[s] = ts, True, self.position + i + 1
                        self.best_line[s] = line
                elif self.later[s] is None:
                    self.later[s], self.has_later[s] = line, True

    def settle(self, keep: Callable[[int, Logged], None]) -> bool:
        """Parse the lines the result rests on (winners; the oldest; a later line of a slot with none).

        Gives each slot's winner to ``keep``, then drops the raw lines. False if a line is not the
        prediction its head said: then read again with ``parse_all``.
        """
        if self.oldest is not None and not self._is(self.oldest_line, None, self.oldest):
            return False
        best_ts, customer, lines = self.best_ts.tolist(), self.slot_customer, self.best_line
        for s in np.flatnonzero(self.has_best).tolist():
            hit = logged(lines[s])
            if hit is None or hit[0].encode() != customer[s] or hit[1].ts.encode() != best_ts[s]:
                return False
            keep(s, hit[1])
            lines[s] = b""  # parsed: the raw line is no longer needed
        for s in np.flatnonzero(~self.has_best & self.has_later).tolist():
            line = self.later[s]
            if line is None or not self._is(line, self.slot_customer[s], None, after=self.observed[s]):
                return False
        # Settled: what is left is the result (has_best, best_ts, best_pos, has_later, oldest).
        self.customers, self.slot_customer, self.best_line, self.later = {}, [], [], []
        return True

    @staticmethod
    def _is(line: bytes, customer_id: bytes | None, ts: bytes | None, after: bytes | None = None) -> bool:
        hit = logged(line)
        if hit is None or (customer_id is not None and hit[0].encode() != customer_id):
            return False
        got = hit[1].ts.encode()
        return (ts is None or got == ts) and (after is None or (got != b"" and got > after))
