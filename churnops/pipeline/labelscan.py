"""The label join's read of the prediction log: per label, only its winning line so far.

:func:`churnops.pipeline.labeljoin.join` pairs each label with the newest prediction of its
customer not later than its ``observed_at``. A scan streams the log in blocks and keeps per
*slot* (the labels of one customer with one ``observed_at``) only its winner so far: memory
follows the labels, not the log.

Two scans give the same result:

- :class:`FastScan` decodes a block's lines at once with msgspec, into the four top-level fields
  the join judges a line on (:class:`_Head`), turns stamps into integers that order as the
  strings do, and decides the block with numpy, keeping where each winner is, not the line. A
  block msgspec refuses is read line by line (:func:`predictions`). :meth:`FastScan.settle` then
  reads the log again for the lines the result rests on and parses them as :func:`logged` does.
- :class:`Scan` parses every line that may name a customer (:func:`predictions`) and compares
  stamps as strings, keeping winners' raw lines. The join uses it when :class:`FastScan` cannot
  vouch for its result: a stamp of another form than the writers' (:class:`Unvouched`), or a
  line the two parsers read differently (``settle`` returns None).

Length: one concern, the scan's state and its two ways of reading a log, which must agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, compress, repeat
from operator import attrgetter, is_not, itemgetter, ne
from typing import IO, Annotated, Any, NamedTuple

import msgspec
import msgspec.structs
import numpy as np

from churnops.core.logformat import (
    CHURN,
    CUSTOMER_ID,
    FEATURES,
    ITEM,
    LATENCY_MS,
    MODEL_VERSION,
    PROBABILITY,
    REQUEST_ID,
    SOURCE,
    TS,
    prediction_object,
)
from churnops.core.schema import FEATURE_NAMES

BLOCK_BYTES = 1 << 20
"""A block: a few calls per block instead of per line, small enough to stay in the CPU's cache."""

_REFUSED = (ValueError, RecursionError)
"""What msgspec raises for lines it will not decode: its DecodeError, bad UTF-8, nesting too deep."""


class Logged(NamedTuple):
    """One logged prediction that names a customer (a tuple: five times cheaper to make than a frozen dataclass)."""

    customer_id: str
    ts: str
    """The ``ts`` as logged, "" when there is none (older than any stamped record)."""
    model_version: str | None
    probability: float | None
    churn: bool | None
    features: dict[str, Any]


def logged(line: bytes) -> Logged | None:
    """The prediction of a line a label can join, else None: a prediction naming a customer, with features."""
    obj = prediction_object(line)
    if obj is None:
        return None
    get: Callable[[str], Any] = obj.get
    cid, features = get(CUSTOMER_ID), get(FEATURES)
    if type(cid) is not str or type(features) is not dict:
        return None
    ts, version, p, churn = get(TS), get(MODEL_VERSION), get(PROBABILITY), get(CHURN)
    version = version if type(version) is str else None
    return Logged(
        cid,
        ts if type(ts) is str else "",
        version,
        float(p) if type(p) in (int, float) and version else None,
        churn if type(churn) is bool else None,
        features,
    )


class Winners(NamedTuple):
    """Each slot's winning prediction, parsed: the slots that have one, then theirs in the same order."""

    slots: list[int]
    ts: list[str]
    model_version: list[str | None]
    probability: list[float | None]
    churn: list[bool | None]
    features: dict[int, dict[str, Any]]
    """By slot: every winner's with ``all_features``, else only those with no decision (a scorer decides them)."""


_CUSTOMER_ID, _TS = attrgetter(CUSTOMER_ID), attrgetter(TS)
_VERSION, _PROBABILITY, _CHURN = attrgetter(MODEL_VERSION), attrgetter(PROBABILITY), attrgetter(CHURN)
_FEATURES = attrgetter(FEATURES)


WINNERS_AT_ONCE = 8192
"""Winners parsed at once by :meth:`FastScan.settle`, as it reads them: few lines held at a time."""


def parse_winners(
    slots: Sequence[int], lines: Sequence[bytes], customers: Sequence[str], all_features: bool, out: Winners
) -> bool:
    """Append the lines, parsed as :func:`logged` parses them, to ``out``.

    False if one is not a prediction of its slot's customer.
    """
    if _decode_winners(slots, lines, customers, all_features, out):
        return True
    for s, line in zip(slots, lines, strict=True):
        hit = logged(line)
        if hit is None or hit.customer_id != customers[s]:
            return False
        out.slots.append(s)
        out.ts.append(hit.ts)
        out.model_version.append(hit.model_version)
        out.probability.append(hit.probability)
        out.churn.append(hit.churn)
        if all_features or hit.probability is None or hit.churn is None:
            out.features[s] = hit.features
    return True


_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_SCALAR = _INT64 | float | str | bool | None
"""A value the writers write. Integers stop at 64 bits: beyond, orjson makes some of them floats."""


def _winner_struct() -> type[msgspec.Struct]:
    """A prediction line as the writers write it, every value typed: nothing skipped, nothing read loosely.

    So msgspec accepts a line only if orjson does (msgspec checks a skipped value less: bytes that
    are not UTF-8, numbers too large for a double) and reads the same values. Any other line (a key
    no writer writes, a value of another type, a list in ``features``) is left to orjson.
    """
    features = msgspec.defstruct(
        "_Features", [(name, _SCALAR, None) for name in FEATURE_NAMES], forbid_unknown_fields=True, gc=False
    )
    typed: dict[str, Any] = {
        TS: str | None,
        CUSTOMER_ID: str,
        FEATURES: features | None,
        MODEL_VERSION: str | None,
        PROBABILITY: float | None,
        CHURN: bool | None,
        REQUEST_ID: _SCALAR,
        ITEM: _SCALAR,
        LATENCY_MS: _SCALAR,
        SOURCE: _SCALAR,
    }
    fields = [(name, kind, None) for name, kind in typed.items()]
    return msgspec.defstruct("_Winner", fields, forbid_unknown_fields=True, gc=False)


_WINNERS = msgspec.json.Decoder(_winner_struct()).decode_lines


def _decode_winners(
    slots: Sequence[int], lines: Sequence[bytes], customers: Sequence[str], all_features: bool, out: Winners
) -> bool:
    """Parse with msgspec (:func:`_winner_struct`), four times faster than orjson, into ``out``; False: nothing done."""
    data = b"\n".join(lines)
    if b"\n\n" in data or data.startswith(b"\n"):
        return False  # decode_lines skips blank lines
    try:
        parsed = _WINNERS(data)
    except _REFUSED:
        return False
    if len(parsed) != len(slots) or list(map(_CUSTOMER_ID, parsed)) != [customers[s] for s in slots]:
        return False
    features = list(map(_FEATURES, parsed))
    if None in features:
        return False  # no features: not a prediction (orjson's reading says so)
    versions = list(map(_VERSION, parsed))
    probabilities = [p if v else None for p, v in zip(map(_PROBABILITY, parsed), versions, strict=True)]
    churns = list(map(_CHURN, parsed))
    stamps = list(map(_TS, parsed))
    out.slots.extend(slots)
    out.ts.extend([ts or "" for ts in stamps] if None in stamps else stamps)
    out.model_version.extend(versions)
    out.probability.extend(probabilities)
    out.churn.extend(churns)
    for s, values, p, c in zip(slots, features, probabilities, churns, strict=True):
        if all_features or p is None or c is None:
            out.features[s] = {
                k: v for k, v in zip(FEATURE_NAMES, msgspec.structs.astuple(values), strict=True) if v is not None
            }
    return True


def blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """A stream as blocks of whole lines; each line ends with ``\\n``, but maybe the stream's last."""
    rest = b""
    while block := stream.read(BLOCK_BYTES):
        cut = block.rfind(b"\n") + 1
        if cut:
            yield rest + block[:cut]
            rest = block[cut:]
        else:
            rest += block
    if rest:
        yield rest


def views(stream: IO[bytes]) -> Iterator[memoryview]:
    """:func:`blocks`, each a view into one buffer reused for the next: no block is allocated, or copied twice.

    A view is valid until the next is asked for.
    """
    readinto = stream.readinto  # type: ignore[attr-defined]  # files, gzip and S3 streams are buffered readers
    buffer = bytearray(BLOCK_BYTES)
    held = 0  # a partial line's bytes at the front
    while True:
        if held == len(buffer):  # a line longer than the buffer: a new one (the last view may still hold the old)
            buffer = buffer + bytes(len(buffer))
        got = readinto(memoryview(buffer)[held:])
        if not got:
            break
        end = held + got
        cut = buffer.rfind(b"\n", 0, end) + 1
        if not cut:
            held = end
            continue
        yield memoryview(buffer)[:cut]
        buffer[: end - cut] = buffer[cut:end]
        held = end - cut
    if held:
        yield memoryview(buffer)[:held]


def split_lines(block: bytes) -> list[bytes]:
    """A block's lines, without their newlines."""
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    return lines


def predictions(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes, Logged]]:
    """(index, line, prediction) of each line a label can join, read by :func:`logged`.

    A line with neither a customer_id key nor an escape (which may spell one) is skipped unparsed.
    """
    for i, line in enumerate(lines):
        if b'"customer_id"' not in line and b"\\" not in line:
            continue
        hit = logged(line)
        if hit is not None:
            yield i, line, hit


# Stamps as the writers spell them (churnops.core.logformat.rfc3339), "YYYY-MM-DDTHH:MM:SS.ffffffZ",
# compare as strings in the order of their 20 digits read as one number. Less the year 1970,
# that number fits in 64 bits up to the year 2891.
_STAMP_CHARS = 27
_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, *range(20, 26))
_SEPARATORS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: ".", 26: "Z"}
_YEARS = (1970, 2891)
UNSTAMPED = -1
"""The key of a record without ``ts``: older than every stamped one."""


def stamp_keys(stamps: Sequence[str]) -> np.ndarray | None:
    """int64 keys that order as ``stamps`` compare as strings ("" is :data:`UNSTAMPED`), or None.

    None when a stamp is neither "" nor in the writers' form with a year in 1970-2891.
    """
    n = len(stamps)
    text = "".join(stamps)
    if len(text) == _STAMP_CHARS * n and text.isascii():  # all stamped, one width: no per-stamp objects
        chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(n, _STAMP_CHARS)
        stamped = None
    else:
        wide = np.array(stamps, dtype=f"U{_STAMP_CHARS + 1}").view(np.uint32).reshape(n, _STAMP_CHARS + 1)
        stamped = wide[:, 0] != 0
        # numpy's strings drop trailing NULs and cut long strings: the total length rules both out.
        if len(text) != _STAMP_CHARS * int(stamped.sum()) or wide[:, _STAMP_CHARS].any():
            return None
        chars = wide[stamped]
    digits = chars[:, _DIGITS] - np.uint8(ord("0"))  # a byte below "0" wraps to above 9
    if (digits > 9).any():
        return None
    if any((chars[:, at] != ord(c)).any() for at, c in _SEPARATORS.items()):
        return None
    number = np.zeros(len(chars), dtype=np.int64)
    for column in digits.T[4:]:  # the year apart: its four digits would overflow
        number = number * 10 + column
    year = digits[:, :4].astype(np.int64) @ np.array([1000, 100, 10, 1], dtype=np.int64)
    if ((year < _YEARS[0]) | (year > _YEARS[1])).any():
        return None
    keys = (year - _YEARS[0]) * 10**16 + number
    if stamped is None:
        return keys
    out = np.full(n, UNSTAMPED, dtype=np.int64)
    out[stamped] = keys
    return out


_STAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{6})Z")


def stamp_key(stamp: str) -> int | None:
    """:func:`stamp_keys` of one stamp."""
    if not stamp:
        return UNSTAMPED
    match = _STAMP.fullmatch(stamp)
    if match is None or not _YEARS[0] <= int(match[1]) <= _YEARS[1]:
        return None
    return (int(match[1]) - _YEARS[0]) * 10**16 + int("".join(match.groups()[1:]))


_hash = hash
"""How :class:`FastScan` files customer_ids (tests give it collisions)."""


class Unvouched(Exception):
    """What :class:`FastScan` cannot decide (a stamp it cannot order as an integer): the join uses :class:`Scan`."""


class _Slots:
    """The labels' slots (a customer's side by side), and what a scan found for each so far."""

    def __init__(self, slot_customers: Sequence[str], slot_observed: Sequence[str | None]) -> None:
        n = len(slot_customers)
        self.customer = list(slot_customers)
        self.observed = list(slot_observed)
        starts = [True, *map(ne, self.customer[1:], self.customer[:-1])] if n else []
        first = np.flatnonzero(np.array(starts, dtype=bool))
        self.customers: dict[str, int] = dict(zip(compress(self.customer, starts), range(len(first)), strict=True))
        if len(self.customers) != len(first):
            raise ValueError("a customer's slots must be side by side")
        self.first = first.astype(np.int64)
        self.count = np.diff(np.append(self.first, n))
        self.has_observed = np.fromiter(map(is_not, self.observed, repeat(None)), dtype=bool, count=n)
        self.has_best = np.zeros(n, dtype=bool)
        self.best_pos = np.zeros(n, dtype=np.int64)
        self.has_later = np.zeros(n, dtype=bool)
        """Whether a prediction after ``observed_at`` was read (why a slot with no winner has none)."""
        self.oldest_ts: str | None = None
        """The oldest ``ts`` of a prediction naming a customer (None: none stamped)."""
        self.position = 0
        """Lines read so far (a line's position is its 1-based number in the whole log)."""

    def slots(self, customer_id: str) -> range:
        k = self.customers.get(customer_id)
        if k is None:
            return range(0)
        first = int(self.first[k])
        return range(first, first + int(self.count[k]))


class Scan(_Slots):
    """Per slot, the newest eligible line read so far; whether a line after its ``observed_at`` was read; the oldest ts.

    Every line that may name a customer is parsed; stamps compare as strings. Winners' stamps are
    kept as str objects in :attr:`best_key`, which orders the winners.
    """

    def __init__(self, slot_customers: Sequence[str], slot_observed: Sequence[str | None]) -> None:
        super().__init__(slot_customers, slot_observed)
        self.best_key = np.full(len(self.customer), "", dtype=object)
        self.best_line = np.full(len(self.customer), None, dtype=object)

    def read(self, streams: Iterable[IO[bytes]]) -> None:
        for stream in streams:
            for block in blocks(stream):
                self.position += self._read_lines(block)

    def _read_lines(self, block: bytes) -> int:
        """Parse each line that may name a customer (a customer_id key, or escapes that may spell one).

        Returns the number of lines.
        """
        lines = split_lines(block)
        for i, line, hit in predictions(lines):
            ts = hit.ts
            if ts and (self.oldest_ts is None or ts < self.oldest_ts):
                self.oldest_ts = ts
            for s in self.slots(hit.customer_id):
                observed = self.observed[s]
                if observed is None or not ts or ts <= observed:
                    if ts >= self.best_key[s]:
                        self.best_key[s], self.has_best[s], self.best_pos[s] = ts, True, self.position + i + 1
                        self.best_line[s] = line
                else:
                    self.has_later[s] = True
        return len(lines)

    def settle(self, all_features: bool) -> Winners:
        """The winners, parsed once more; the raw lines are dropped."""
        slots = np.flatnonzero(self.has_best).tolist()
        lines = self.best_line[slots].tolist()
        self.best_line = self.best_line[:0]
        winners = Winners([], [], [], [], [], {})
        ok = parse_winners(slots, lines, self.customer, all_features, winners)
        assert ok, "a winner is a line logged() read"
        return winners


class _Head(msgspec.Struct, gc=False):
    """What the fast read takes of a line: its customer_id, ts, kind and features' first byte.

    A value of another type (a ``ts`` that is a number) makes msgspec refuse the block, which is
    then read line by line. What msgspec skips it checks less than orjson does (bytes that are not
    UTF-8, numbers too large for a double), so the lines a result rests on are parsed again, by
    :func:`parse_winners`, in :meth:`FastScan.settle`.
    """

    ts: str | None = None
    kind: str | None = None
    customer_id: str | None = None
    features: msgspec.Raw = msgspec.Raw(b"")


_HEADS = msgspec.json.Decoder(_Head).decode_lines


def _is_prediction(head: _Head) -> bool:
    """What :func:`logged` asks of a line besides its customer_id: no ``kind``, and ``features`` an object."""
    return head.kind is None and bytes(head.features)[:1] == b"{"


class FastScan(_Slots):
    """:class:`Scan`'s result, with blocks decoded by msgspec and decided with numpy, then the lines it rests on.

    :meth:`read` keeps, per slot, where its winner is (stream, byte offset and length; likewise
    a later line, and the oldest stamp's line), not the line: in a log in time order nearly every
    line of a labeled customer is its newest so far, and copying each out of its block cost more
    than the whole decode. :meth:`settle` then reads the log again and cuts those lines out (a
    compressed or remote segment is decompressed or fetched again), and a strict msgspec type or
    orjson parses them as :func:`logged` does. If a line is not what the first read took it for (a line only
    one parser accepts, a log rotated between the reads), the join reads with :class:`Scan`
    instead. Stamps are :func:`stamp_keys`; the first stamp without a key raises :class:`Unvouched`.
    """

    def __init__(self, slot_customers: Sequence[str], slot_observed: Sequence[str | None]) -> None:
        super().__init__(slot_customers, slot_observed)
        unique = [o or "" for o in set(slot_observed)]  # few stamps, many labels
        keys = stamp_keys(unique)
        if keys is None:
            raise Unvouched("an observed_at the writers do not spell")
        key_of: dict[str | None, int] = {None: UNSTAMPED, **dict(zip(unique, keys.tolist(), strict=True))}
        n = len(self.customer)
        self.observed_key = np.fromiter(map(key_of.__getitem__, slot_observed), dtype=np.int64, count=n)
        self.best_key = np.full(n, UNSTAMPED - 1, dtype=np.int64)
        self.best_at = np.zeros((n, 3), dtype=np.int64)
        """Per slot, where its winner is: (stream, byte offset, length)."""
        self.later_at = np.zeros((n, 3), dtype=np.int64)
        self.oldest_at = np.zeros(3, dtype=np.int64)
        self.stream = -1
        self.offset = 0
        """Bytes of the current stream before the current block."""
        # Customers are looked up by str hash in a sorted array: a dict of 200,000 ids misses the
        # CPU's caches at every line. A line whose id only shares the hash of a labeled one can
        # only win or be a later line, and settle() checks the customer_id of both.
        hashes = np.fromiter(map(_hash, self.customers), dtype=np.int64, count=len(self.customers))
        self.by_hash = np.argsort(hashes, kind="stable")
        self.hashes = hashes[self.by_hash]
        if (self.hashes[1:] == self.hashes[:-1]).any():
            raise Unvouched("two labeled customer_ids with one hash")

    def read(self, streams: Iterable[IO[bytes]]) -> None:
        for stream in streams:
            self.stream, self.offset = self.stream + 1, 0
            for block in views(stream):
                n = self._decode(block)
                self.position += self._read_lines(bytes(block)) if n is None else n
                self.offset += len(block)

    def _decode(self, block: memoryview) -> int | None:
        """Read a block decoded at once: its number of lines, or None (nothing taken) if msgspec refuses it."""
        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n"))
        n = len(ends) + (block[-1] != ord("\n"))
        try:
            heads = _HEADS(block)
        except _REFUSED:
            return None
        if len(heads) != n:
            return None  # decode_lines skips blank lines: positions would shift
        starts = np.append(0, ends + 1)[:n]
        lengths = (np.append(ends, len(block)) if n > len(ends) else ends) - starts

        def where(rows: np.ndarray) -> np.ndarray:
            return np.stack([np.full(len(rows), self.stream), self.offset + starts[rows], lengths[rows]], axis=1)

        ids = list(map(_CUSTOMER_ID, heads))
        stamps = list(map(_TS, heads))
        low = min(filter(None, compress(stamps, map(is_not, ids, repeat(None)))), default=None)
        if low is not None and (self.oldest_ts is None or low < self.oldest_ts):
            for i, (h, c) in enumerate(zip(heads, ids, strict=True)):  # the oldest among predictions only
                if c is not None and h.ts and (self.oldest_ts is None or h.ts < self.oldest_ts) and _is_prediction(h):
                    self.oldest_ts, self.oldest_at = h.ts, where(np.array([i]))[0]
        if not self.hashes.size:
            return n
        hashes = np.fromiter(map(_hash, ids), dtype=np.int64, count=n)
        order = np.argsort(hashes)  # sorted queries walk the sorted array in step: fewer cache misses
        at = np.searchsorted(self.hashes, hashes[order])
        at[at == len(self.hashes)] = 0
        found = self.hashes[at] == hashes[order]
        customer = np.full(n, -1, dtype=np.int64)
        customer[order[found]] = self.by_hash[at[found]]
        rows = np.flatnonzero(customer >= 0)
        if not rows.size:
            return n
        # A taken line that is no prediction (a kind, features not an object) can only win or be a
        # slot's later line: settle() parses those and, finding one, has the join read with Scan.
        stamps = list(itemgetter(*rows.tolist())(stamps)) if len(rows) > 1 else [stamps[rows[0]]]
        if None in stamps:
            stamps = [ts or "" for ts in stamps]
        key = stamp_keys(stamps)
        if key is None:
            raise Unvouched("a ts the writers do not spell")
        cust = customer[rows]
        count = self.count[cust]
        slot = self.first[cust]
        if (count > 1).any():  # a customer labeled at several observed_at: a row per slot
            rows, slot, key = np.repeat(rows, count), np.repeat(slot, count), np.repeat(key, count)
            starts_at = np.repeat(np.cumsum(count) - count, count)
            slot = slot + np.arange(len(slot)) - starts_at
        eligible = ~self.has_observed[slot] | (key == UNSTAMPED) | (key <= self.observed_key[slot])
        self._take_newest(slot[eligible], key[eligible], rows[eligible], where)
        later = ~eligible & ~self.has_later[slot]
        if later.any():
            slot, rows = slot[later][::-1], rows[later][::-1]  # assigned last wins: the first later row
            self.later_at[slot] = where(rows)
            self.has_later[slot] = True
        return n

    def _take_newest(
        self, slot: np.ndarray, key: np.ndarray, rows: np.ndarray, where: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        """Per slot, the newest of these rows (latest ts, then latest row) if newer than its winner so far."""
        if not slot.size:
            return
        order = np.lexsort((rows, key, slot))
        last = np.ones(len(order), dtype=bool)
        last[:-1] = slot[order][1:] != slot[order][:-1]
        pick = order[last]
        slot, key, rows = slot[pick], key[pick], rows[pick]
        newer = key >= self.best_key[slot]  # rows come after every winner so far: a tie on ts is newer
        slot, key, rows = slot[newer], key[newer], rows[newer]
        self.best_key[slot] = key
        self.has_best[slot] = True
        self.best_pos[slot] = self.position + rows + 1
        self.best_at[slot] = where(rows)

    def _read_lines(self, block: bytes) -> int:
        """A block msgspec refused: each line that may name a customer parsed, as :class:`Scan` does."""
        lines = split_lines(block)
        offsets = list(accumulate((len(line) + 1 for line in lines), initial=self.offset))
        for i, line, hit in predictions(lines):
            at = (self.stream, offsets[i], len(line))
            ts = hit.ts
            if ts and (self.oldest_ts is None or ts < self.oldest_ts):
                self.oldest_ts, self.oldest_at = ts, np.array(at)
            slots = self.slots(hit.customer_id)
            if not slots:
                continue
            key = stamp_key(ts)
            if key is None:
                raise Unvouched("a ts the writers do not spell")
            for s in slots:
                if not self.has_observed[s] or key == UNSTAMPED or key <= self.observed_key[s]:
                    if key >= self.best_key[s]:
                        self.best_key[s], self.has_best[s], self.best_pos[s] = key, True, self.position + i + 1
                        self.best_at[s] = at
                elif not self.has_later[s]:
                    self.later_at[s], self.has_later[s] = at, True
        return len(lines)

    def settle(self, streams: Iterable[IO[bytes]], all_features: bool) -> Winners | None:
        """Take and parse the lines the result rests on (winners; the oldest; a later line of a slot with none).

        Returns the winners (in the log's order), or None if a line is not what the first read
        took it for: then the join reads again with :class:`Scan`. Winners are parsed
        :data:`WINNERS_AT_ONCE` at a time, as they are read: memory holds a few thousand lines.
        """
        slots = np.flatnonzero(self.has_best)
        unwon = np.flatnonzero(~self.has_best & self.has_later)
        wanted = np.concatenate([self.best_at[slots], self.later_at[unwon], self.oldest_at[None]])
        winners = Winners([], [], [], [], [], {})
        owner = np.concatenate([slots, unwon])  # the slot of each wanted line but the oldest
        batch: tuple[list[int], list[bytes]] = ([], [])
        for rows, lines in _lines_at(streams, wanted):
            won = rows < len(slots)
            for i, line in zip(rows[~won].tolist(), compress(lines, ~won), strict=True):
                if i < len(owner):
                    s = int(owner[i])
                    ok = _is(line, self.customer[s], None, self.observed[s])
                else:
                    ok = self.oldest_ts is None or _is(line, None, self.oldest_ts)
                if not ok:
                    return None
            batch[0].extend(owner[rows[won]].tolist())
            batch[1].extend(compress(lines, won) if not won.all() else lines)
            if len(batch[0]) >= WINNERS_AT_ONCE:
                if not parse_winners(*batch, self.customer, all_features, winners):
                    return None
                batch = ([], [])
        if not parse_winners(*batch, self.customer, all_features, winners):
            return None
        keys = stamp_keys(winners.ts)
        return winners if keys is not None and np.array_equal(keys, self.best_key[winners.slots]) else None


def _lines_at(streams: Iterable[IO[bytes]], wanted: np.ndarray) -> Iterator[tuple[np.ndarray, list[bytes]]]:
    """(rows, the bytes at each row's (stream, offset, length)), a chunk of the log at a time, in the log's order.

    Bytes are short or b"" where the log is shorter now. Each stream with a wanted line is read
    again from its start, but not split into lines.
    """
    order = np.lexsort((wanted[:, 1], wanted[:, 0]))
    at = 0
    for number, stream in enumerate(streams):
        stop = int(np.searchsorted(wanted[order, 0], number, side="right"))
        rows, at = order[at:stop], stop
        starts, ends = wanted[rows, 1], wanted[rows, 1] + wanted[rows, 2]  # lines do not overlap: both sorted
        buffer, base, done = b"", 0, 0  # the stream's bytes from base on, as far as read
        while done < len(rows) and (chunk := stream.read(BLOCK_BYTES)):
            cut = min(max(int(starts[done]) - base, 0), len(buffer))
            buffer, base = buffer[cut:] + chunk, base + cut
            ready = int(np.searchsorted(ends, base + len(buffer), side="right"))
            cuts = zip((starts[done:ready] - base).tolist(), (ends[done:ready] - base).tolist(), strict=True)
            yield rows[done:ready], [buffer[i:j] for i, j in cuts]
            done = ready
        yield rows[done:], [b""] * (len(rows) - done)
    yield order[at:], [b""] * (len(order) - at)


def _is(line: bytes, customer_id: str | None, ts: str | None, after: str | None = None) -> bool:
    """Whether ``line`` is a prediction of ``customer_id`` (any: None) stamped ``ts`` (or later than ``after``)."""
    hit = logged(line)
    if hit is None or (customer_id is not None and hit.customer_id != customer_id):
        return False
    got = hit.ts
    return (ts is None or got == ts) and (after is None or (got != "" and got > after))
