"""One read of the prediction log for the label join: per label, only its winning line so far.

:func:`churnops.pipeline.labeljoin.join` pairs each label with the newest prediction of its
customer not later than its ``observed_at``. :class:`Scan` reads the log once, in blocks, and
keeps per *slot* (the labels of one customer with one ``observed_at``) the winning line so far,
raw: memory follows the labels, not the log.

Speed: a block whose lines all have the head the service and ``generate`` write (:data:`_LINE`)
is read with one regex call and decided with numpy, no line parsed. Any other block is read
line by line with :func:`churnops.core.logformat.prediction_object`. Lines taken on their head are
parsed at the end, when they decide something (:meth:`Scan.settle`); if one is not the
prediction its head said (a torn or hand-made line), the caller reads again with every line
parsed (``parse_all``), so the result is always the parsed log's.

Length: one concern, the scan's state and its two ways of reading a block, which must agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import IO, Any

import numpy as np

from churnops.core.logformat import CHURN, CUSTOMER_ID, FEATURES, MODEL_VERSION, PROBABILITY, TS, prediction_object

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
    obj = prediction_object(line)
    if obj is None:
        return None
    get: Callable[[str], Any] = obj.get
    cid, features = get(CUSTOMER_ID), get(FEATURES)
    if type(cid) is not str or type(features) is not dict:
        return None
    ts, version, p, churn = get(TS), get(MODEL_VERSION), get(PROBABILITY), get(CHURN)
    version = version if type(version) is str else None
    return cid, Logged(
        ts if type(ts) is str else "",
        version,
        float(p) if type(p) in (int, float) and version else None,
        churn if type(churn) is bool else None,
        features,
    )


# Each line of a block (a block starts with a newline): (line, '"' if it starts with a ts key,
# the ts, the customer_id), from the head the service and ``generate`` write; "" for what the
# head lacks. Strings hold no quote, backslash or control character, so each is spelled
# literally and the match is the record's top level; the key counts of :meth:`Scan._fast` rule
# out the same key again later in the line.
_S = rb'[^"\\\x00-\x1f]*'
_LINE = re.compile(
    rb'\n((?:(?:\{"ts":(")(' + _S + rb')",|\{)(?:"request_id":"' + _S + rb'",)?(?:"model_version":"' + _S + rb'",)?'
    rb'(?:"item":-?[0-9]+,)?(?:"customer_id":"(' + _S + rb')")?)?[^\n]*)'
)


def blocks(stream: IO[bytes]) -> Iterator[bytes]:
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

    Slots are numbered, a customer's side by side, customers in ascending order of their id
    (ids as labels have them: no control characters, so numpy's fixed-width strings, which drop
    trailing NULs, compare them as Python does). Log stamps a block's heads give hold no control
    characters either; a stamp that comes from a parsed line may, so winners' stamps are kept as
    bytes objects.
    """

    def __init__(self, slot_customers: Sequence[str], slot_observed: Sequence[str | None], parse_all: bool) -> None:
        n = len(slot_customers)
        self.parse_all = parse_all
        self.customers: dict[bytes, int] = {}
        self.slot_customer = [c.encode() for c in slot_customers]
        first: list[int] = []
        for s, c in enumerate(self.slot_customer):
            if c not in self.customers:
                if first and c < self.slot_customer[s - 1]:
                    raise ValueError("slots must be in ascending order of customer_id")
                self.customers[c] = len(first)
                first.append(s)
            elif self.slot_customer[s - 1] != c:
                raise ValueError("a customer's slots must be side by side")
        self.ids = np.array(list(self.customers), dtype=bytes) if first else np.zeros(0, dtype="S1")
        """The customer ids, ascending: a block's ids are looked up by binary search, in numpy."""
        self.first = np.array(first, dtype=np.int64)
        self.count = np.diff(np.append(self.first, n))
        self.observed = np.array([(o or "").encode() for o in slot_observed], dtype=bytes) if n else self.ids[:0]
        self.has_observed = np.array([o is not None for o in slot_observed], dtype=bool)
        self.best_ts = np.full(n, b"", dtype=object)
        self.has_best = np.zeros(n, dtype=bool)
        self.best_pos = np.zeros(n, dtype=np.int64)
        self.best_line = np.full(n, b"", dtype=object)
        self.later: list[bytes | None] = [None] * n
        self.has_later = np.zeros(n, dtype=bool)
        self.oldest: bytes | None = None
        self.oldest_line = b""
        self.position = 0
        """Lines read so far (a line's position is its 1-based number in the whole log)."""

    def read(self, streams: Iterable[IO[bytes]]) -> None:
        for stream in streams:
            for block in blocks(stream):
                lines = None if self.parse_all else self._fast(block)
                self.position += self._slow(block) if lines is None else lines

    def _fast(self, block: bytes) -> int | None:
        """Decide a block on its lines' heads: the number of lines, or None (nothing taken) if one needs parsing."""
        if b"\\" in block:
            return None
        found = _LINE.findall(block)
        if block.endswith(b"\n"):
            found.pop()  # the block's last newline ends a line and starts none
        if not found:
            return 0
        lines, leads, stamps, ids = zip(*found, strict=True)
        named = len(ids) - ids.count(b"")
        if block.count(b'"customer_id"') != named or block.count(b'"ts"') != leads.count(b'"'):
            return None  # a key again later in a line, or a customer_id not in a writer's head
        low = min(filter(None, compress(stamps, ids)), default=None)  # of the lines naming a customer
        if low is not None and (self.oldest is None or low < self.oldest):
            i = next(i for i, (ts, cid) in enumerate(zip(stamps, ids, strict=True)) if ts == low and cid)
            self.oldest, self.oldest_line = low, lines[i]
        if not self.ids.size:
            return len(found)
        wanted = np.array(ids, dtype=bytes)
        at = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        rows = np.flatnonzero(self.ids[at] == wanted)
        if not rows.size:
            return len(found)
        cust = at[rows]
        count = self.count[cust]
        slot = self.first[cust]
        if (count > 1).any():  # a customer labeled at several observed_at: a row per slot
            rows, slot = np.repeat(rows, count), np.repeat(slot, count)
            starts = np.repeat(np.cumsum(count) - count, count)
            slot = slot + np.arange(len(slot)) - starts
        ts = np.array(stamps, dtype=bytes)[rows]
        eligible = ~self.has_observed[slot] | (ts == b"") | (ts <= self.observed[slot])
        self._take_newest(slot[eligible], ts[eligible], rows[eligible], lines)
        later = ~eligible & ~self.has_later[slot]
        for s, i in zip(slot[later].tolist(), rows[later].tolist(), strict=True):
            if self.later[s] is None:
                self.later[s] = lines[i]
        self.has_later[slot[later]] = True
        return len(found)

    def _take_newest(self, slot: np.ndarray, ts: np.ndarray, rows: np.ndarray, lines: Sequence[bytes]) -> None:
        """Per slot, the newest of these rows (latest ts, then latest row) if newer than its winner so far."""
        if not slot.size:
            return
        order = np.lexsort((rows, ts, slot))
        last = np.ones(len(order), dtype=bool)
        last[:-1] = slot[order][1:] != slot[order][:-1]
        pick = order[last]
        slot, ts, rows = slot[pick], ts[pick], rows[pick]
        stamps = ts.astype(object)
        newer = stamps >= self.best_ts[slot]  # rows come after every winner so far: a tie on ts is newer
        slot, stamps, rows = slot[newer], stamps[newer], rows[newer]
        self.best_ts[slot] = stamps
        self.has_best[slot] = True
        self.best_pos[slot] = self.position + rows + 1
        self.best_line[slot] = np.array(lines, dtype=object)[rows]

    def _slow(self, block: bytes) -> int:
        """Parse each line that may name a customer (a customer_id key, or escapes that may spell one).

        Returns the number of lines.
        """
        lines = block.split(b"\n")[1:]
        if block.endswith(b"\n"):
            lines.pop()
        for i, line in enumerate(lines):
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
        return len(lines)

    def settle(self, keep: Callable[[int, Logged], None]) -> bool:
        """Parse the lines the result rests on (winners; the oldest; a later line of a slot with none).

        Gives each slot's winner to ``keep``, then drops the raw lines. False if a line is not the
        prediction its head said: then read again with ``parse_all``.
        """
        if self.oldest is not None and not self._is(self.oldest_line, None, self.oldest):
            return False
        best_ts, customer, lines = self.best_ts.tolist(), self.slot_customer, self.best_line.tolist()
        self.best_line = self.best_line[:0]  # the list holds them now, each dropped once parsed
        for s in np.flatnonzero(self.has_best).tolist():
            hit = logged(lines[s])
            if hit is None or hit[0].encode() != customer[s] or hit[1].ts.encode() != best_ts[s]:
                return False
            keep(s, hit[1])
            lines[s] = b""
        for s in np.flatnonzero(~self.has_best & self.has_later).tolist():
            line = self.later[s]
            if line is None or not self._is(line, self.slot_customer[s], None, after=self.observed[s]):
                return False
        # Settled: what is left is the result (has_best, best_ts, best_pos, has_later, oldest).
        self.customers, self.slot_customer, self.later = {}, [], []
        return True

    @staticmethod
    def _is(line: bytes, customer_id: bytes | None, ts: bytes | None, after: bytes | None = None) -> bool:
        hit = logged(line)
        if hit is None or (customer_id is not None and hit[0].encode() != customer_id):
            return False
        got = hit[1].ts.encode()
        return (ts is None or got == ts) and (after is None or (got != b"" and got > after))
