"""Read a prediction log once, in big blocks, into per-chunk, per-version :class:`~.groups.Group` sums.

Parsing ten million lines one by one (orjson, then a dict per line) costs more than the
whole time budget, so a run of well-formed lines is decoded at once by msgspec into typed
records, and the schema checks run on their columns with numpy. The record type names every
key the log format writes, with its JSON type, and refuses any other: msgspec skips an
unknown key's value unchecked (a number orjson refuses as infinite, bytes that are not
UTF-8), so only lines orjson reads the same way decode. A run that does not decode is halved
until the lines that do are found. Every line the columnar path cannot vouch for (a rejection,
a value out of the schema, a wrong type, a blank line, a line that does not decode) is
classified by the monitor's own :func:`churnops.monitor.records.parse_line`, so each line
gets the monitor's verdict and reasons either way. Lines longer than the monitor's limit are
``too_long`` as in the monitor; a file's unterminated last line that is not JSON is ``partial``.

Chunks (:mod:`churnops.report.chunks`) follow the lines' ``ts`` or their count, in the order
the log is read: archived objects and rotated files oldest first, then the live file, as
:func:`churnops.core.logsource.forward_segments` orders them for the label join too.

Length: one concern, one read of the log into sums. The columnar path's guards (the record
type, the schema's checks, the stamps it reads itself) decide which lines go to the fallback,
so they stay beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from churnops.core import logformat, logsource
from churnops.core.errors import InputError
from churnops.core.logsource import Segment
from churnops.core.schema import CATEGORICAL, NUMERIC
from churnops.core.trainstats import TrainStats
from churnops.monitor.quality import summarize
from churnops.monitor.records import Entry, parse_line
from churnops.monitor.rules import numeric_bins
from churnops.monitor.tail import MAX_LINE_BYTES
from churnops.report.chunks import UNDATED, Chunking, ts_seconds
from churnops.report.groups import Group

BLOCK_BYTES = 8 << 20
"""Bytes read at once: ~25,000 lines; large enough that per-block costs vanish, small enough for flat memory."""
LEAF_LINES = 64
"""A run of lines that does not decode is halved down to this many, then read line by line."""
Groups = dict[int, dict[str | None, Group]]
"""chunk key -> model_version (None: the line names none) -> its sums."""

_STAMP = "2000-01-01T00:00:00.000000Z"
"""The form the service writes a ``ts`` in (RFC 3339, UTC, microseconds): 27 characters."""
_STAMP_LOW = np.array([ord("0") if c.isdigit() else ord(c) for c in _STAMP], np.uint8)
_STAMP_HIGH = np.array([ord("9") if c.isdigit() else ord(c) for c in _STAMP], np.uint8)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int32)
_MICROS = np.array([100_000, 10_000, 1000, 100, 10, 1], np.int32)


class _Absent:
    """A categorical key the line lacks: code -1, as an unknown category (the line goes to the fallback)."""

    code = -1


def _category_type(name: str, categories: Sequence[str]) -> Any:
    """An enum of the categories, each member knowing its code: msgspec hands back the members
    themselves, so a category costs neither a new string nor a lookup, and any other value
    fails the decoding (the lines are then read one by one)."""
    import enum

    make: Any = enum.Enum  # the functional API, with names known only at run time
    kind = make(name, {c: c for c in categories})
    for code, member in enumerate(kind):
        member.code = code
    return kind


def _record_type() -> Any:
    """The msgspec type of one line: every key :mod:`churnops.core.logformat` writes, typed, no others.

    msgspec reads a JSON integer into a float field and refuses a bool or a number beyond a
    double there, as orjson does; item and n_errors are floats for that reason only.
    """
    import msgspec

    def struct(name: str, fields: list[tuple[str, Any, Any]]) -> Any:
        return msgspec.defstruct(name, fields, gc=False, forbid_unknown_fields=True)

    text, number = str | None, float | None
    features = struct(
        "Features",
        [(f.name, float, float("nan")) for f in NUMERIC]
        + [(f.name, _category_type(f.name, f.categories), _Absent) for f in CATEGORICAL],
    )
    error = struct(
        "RejectedValue",
        [
            (logformat.FIELD, text, None),
            (logformat.ITEM, number, None),
            (logformat.REASON, text, None),
            (logformat.VALUE, float | str | bool | None, None),
            (logformat.LOC, text, None),
        ],
    )
    keys = [  # in the order the service writes them: msgspec matches keys fastest in the declared order
        (logformat.TS, text),
        (logformat.REQUEST_ID, text),
        (logformat.MODEL_VERSION, text),
        (logformat.ITEM, number),
        (logformat.CUSTOMER_ID, text),
        (logformat.FEATURES, features | None),
        (logformat.PROBABILITY, number),
        (logformat.CHURN, bool | None),
        (logformat.LATENCY_MS, number),
        (logformat.SOURCE, text),
        (logformat.KIND, text),
        (logformat.ENDPOINT, text),
        (logformat.N_ERRORS, number),
        (logformat.ERRORS, list[error] | None),  # type: ignore[valid-type]
    ]
    return struct("Line", [(key, kind, None) for key, kind in keys]), features()


class Scanner:
    """Adds blocks of lines to :attr:`groups`; one per report."""

    def __init__(self, stats: TrainStats, chunking: Chunking) -> None:
        import msgspec

        self.chunking = chunking
        self.groups: Groups = {}
        self.position = 0  # lines read so far, blank ones included (labeljoin's order_pos)
        self.counted = 0  # non-blank lines so far (chunking by count)
        self.cuts = {f.name: numeric_bins(stats.numeric[f.name].psi_bins).cuts for f in NUMERIC}
        # An integer feature's valid values are few: their bins looked up, not searched for.
        self._bin_of = {
            f.name: (int(f.low), np.searchsorted(self.cuts[f.name], np.arange(f.low, f.high + 1), side="right"))
            for f in NUMERIC
            if f.integer and f.high - f.low <= 100_000
        }
        record, self._no_features = _record_type()
        self._decode = msgspec.json.Decoder(record).decode_lines
        self._newline = np.empty(0, dtype=bool)  # reused: a fresh 8 MB mask per block costs its page faults

    # ------------------------------------------------------------------ reading

    def read(self, segments: Sequence[Segment]) -> None:
        """Scan ``segments`` in order; InputError naming a file or object that cannot be read."""
        for segment in segments:
            if segment.path is not None and not segment.path.exists():
                continue  # rotated away between listing and reading
            with segment.open() as fh:
                try:
                    self._read_file(fh)
                except OSError as err:
                    raise InputError(f"{segment.label}: cannot read log: {err.strerror or err}") from None

    def _read_file(self, fh: Any) -> None:
        """Blocks of whole lines, read into one reused buffer and handed on as views: a fresh 8 MB
        object per block, copied twice to join the line cut at its end, cost a sixth of the scan."""
        buf = bytearray(BLOCK_BYTES + MAX_LINE_BYTES + 1)
        view = memoryview(buf)
        have = 0  # the carried start of a line, at buf[:have] (never more than MAX_LINE_BYTES)
        skipping = False  # inside a line already longer than MAX_LINE_BYTES
        while got := fh.readinto(view[have : have + BLOCK_BYTES]):
            end, start = have + got, 0
            if skipping:
                nl = buf.find(b"\n", 0, end)
                if nl < 0:
                    continue
                self._slow([None], [True])
                start, skipping = nl + 1, False
            cut = buf.rfind(b"\n", start, end) + 1
            if cut:
                self._block(view[start:cut])
            else:
                cut = start
            have = end - cut
            buf[:have] = buf[cut:end]
            if have > MAX_LINE_BYTES:
                have, skipping = 0, True
        if skipping:
            self._slow([None], [False])
        elif have:
            self._slow([bytes(buf[:have])], [False])

    # ------------------------------------------------------------------ the columnar path

    def _block(self, block: memoryview) -> None:
        """A block of whole lines, each ending in a newline: runs of well-formed lines are decoded at
        once, the others read line by line, in the order they come."""
        buf = np.frombuffer(block, dtype=np.uint8)
        if self._newline.size < buf.size:
            self._newline = np.empty(buf.size, dtype=bool)
        ends = np.flatnonzero(np.equal(buf, 10, out=self._newline[: buf.size]))
        starts = np.concatenate(([0], ends[:-1] + 1))
        lengths = ends - starts
        # A line the decoder may take starts with '{"' and ends with '}', so no JSON value spans two
        # lines (a string holds no raw newline) and records match lines one to one once counted;
        # blank lines, which msgspec skips, are not among them.
        well_formed = (lengths >= 2) & (lengths <= MAX_LINE_BYTES)
        last = buf.size - 1
        well_formed &= (buf[starts] == 123) & (buf[np.minimum(starts + 1, last)] == 34) & (buf[ends - 1] == 125)
        if well_formed.all():
            self._records(block, starts, ends)
            return
        edges = [0, *(np.flatnonzero(np.diff(well_formed.view(np.int8))) + 1).tolist(), ends.size]
        for a, b in pairwise(edges):
            if well_formed[a]:
                self._records(block, starts[a:b], ends[a:b])
            else:
                self._lines(block, starts[a:b], ends[a:b])

    def _records(self, block: memoryview, starts: np.ndarray, ends: np.ndarray) -> None:
        """Well-formed lines: decoded at once, else halved (a line that does not decode can be anywhere)."""
        try:
            records = self._decode(block[starts[0] : ends[-1] + 1])
        except (ValueError, RecursionError):  # msgspec's DecodeError and ValidationError, bad UTF-8
            records = None
        if records is not None and len(records) == ends.size:
            self._columns(records, block, starts, ends)
        elif ends.size <= LEAF_LINES:
            self._lines(block, starts, ends)
        else:
            half = ends.size // 2
            self._records(block, starts[:half], ends[:half])
            self._records(block, starts[half:], ends[half:])

    def _columns(self, records: list[Any], block: memoryview, starts: np.ndarray, ends: np.ndarray) -> None:
        n = ends.size
        kinds = list(map(_KIND, records))
        ok = np.ones(n, dtype=bool) if kinds.count(None) == n else np.array([k is None for k in kinds])
        features = list(map(_FEATURES, records))
        try:
            numeric, codes = _feature_columns(features)
        except AttributeError:  # lines without features (None has no fields): the defaults, which fail
            ok &= np.array([f is not None for f in features])
            numeric, codes = _feature_columns([self._no_features if f is None else f for f in features])
        for f in NUMERIC:
            x = numeric[f.name]
            fits = (x >= f.low) & (x <= f.high)  # NaN (the key missing) fails too
            if f.integer:
                fits &= np.floor(x) == x
            ok &= fits
        for c in codes.values():
            ok &= c >= 0
        secs = _seconds(list(map(_TS, records)))
        counted = np.arange(self.counted, self.counted + n)  # all lines here are non-blank
        bad = np.flatnonzero(~ok)
        if bad.size:
            lines = [bytes(block[starts[i] : ends[i]]) for i in bad]
            self._slow(lines, [True] * bad.size, positions=self.position + bad, counted=counted[bad])
        good = np.flatnonzero(ok)
        proba = np.fromiter(map(_PROBABILITY, records), np.float64, n)  # null: NaN
        has_p = (proba >= 0.0) & (proba <= 1.0)  # the monitor's _probability: NaN and null fail
        churn = np.fromiter(map(_CHURN, records), np.float64, n)  # as floats, so that null is NaN, not false
        decided, decision = ~np.isnan(churn), churn == 1.0
        versions = list(map(_MODEL_VERSION, records))
        names: list[str | None] = [versions[0]]
        if versions.count(versions[0]) == n:
            vcodes = np.zeros(n, dtype=np.int64)
        else:
            index: dict[str | None, int] = {}
            vcodes = np.fromiter((index.setdefault(v, len(index)) for v in versions), np.int64, n)
            names = list(index)
        keys = self._keys(secs, counted)
        self.counted += n
        group_id = keys[good] * len(names) + vcodes[good]
        parts: list[tuple[Any, int]]
        if good.size == n and n and group_id.min() == group_id.max():  # the usual block: no copies
            parts = [(slice(None), 0)]
        else:
            parts = [(rows, int(rows[0])) for rows in (good[group_id == gid] for gid in np.unique(group_id))]
        for rows, first in parts:
            g = self._group(int(keys[first]), names[int(vcodes[first])])
            valid_p = has_p[rows]
            g.add_valid(int(valid_p.size), int(valid_p.size - np.count_nonzero(valid_p)))
            num = {name: x[rows] for name, x in numeric.items()}
            bins = {name: self._valid_bins(name, x) for name, x in num.items()}
            served, known = proba[rows][valid_p], decided[rows][valid_p]
            g.add_values(num, bins, {name: c[rows] for name, c in codes.items()}, served, None)
            g.expected.add(served[known], decision[rows][valid_p][known])
            s = secs[rows]
            dated = s[~np.isnan(s)]
            g.span(
                float(dated.min()) if dated.size else None,
                float(dated.max()) if dated.size else None,
                self.position + first + 1,
            )
        self.position += n

    def _valid_bins(self, name: str, x: np.ndarray) -> np.ndarray:
        """PSI-bin indices of valid values (an integer feature's are whole numbers in its range)."""
        if name in self._bin_of:
            low, table = self._bin_of[name]
            return table[x.astype(np.intp) - low]
        return np.searchsorted(self.cuts[name], x, side="right")

    # ------------------------------------------------------------------ the line-by-line path

    def _lines(self, block: memoryview, starts: np.ndarray, ends: np.ndarray) -> None:
        lines: list[bytes | None] = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            lines.append(bytes(block[s:e]) if e - s <= MAX_LINE_BYTES else None)
        self._slow(lines, [True] * len(lines))

    def _slow(
        self, lines: Sequence[bytes | None], terminated: Sequence[bool], positions: Any = None, counted: Any = None
    ) -> None:
        """Classify lines one by one (None: longer than the monitor reads) and add them to their groups.

        ``positions``/``counted``: the lines' places in the read order and among non-blank lines,
        when they are not the next ones (rows the columnar path handed over).
        """
        batches: dict[tuple[int, str | None], list[tuple[Entry, Any, int]]] = {}
        for i, (line, term) in enumerate(zip(lines, terminated, strict=True)):
            position = (int(positions[i]) if positions is not None else self.position + i) + 1
            if line is None:
                entry, parsed = Entry(reason="too_long"), None
            elif not line.strip():
                continue  # blank lines are skipped, as the monitor skips them
            else:
                entry = parse_line(line)
                if not term and entry.reason in ("invalid_json", "binary"):
                    entry = Entry(reason="partial")
                parsed = logformat.parse_line(line) if entry.values is not None else None
            secs = ts_seconds(entry.ts)
            index = int(counted[i]) if counted is not None else self.counted
            key = self._keys(np.array([np.nan if secs is None else secs]), np.array([index]))[0]
            if counted is None:
                self.counted += 1
            version = parsed.model_version if isinstance(parsed, logformat.Prediction) else None
            churn = parsed.churn if isinstance(parsed, logformat.Prediction) else None
            batches.setdefault((int(key), version), []).append((entry, (secs, churn), position))
        if positions is None:
            self.position += len(lines)
        for (key, version), items in batches.items():
            g = self._group(key, version)
            entries = [e for e, _, _ in items]
            cols, counts = summarize(entries)
            g.add_counts(counts)
            num = {f.name: cols[f.name] for f in NUMERIC}
            bins = {name: np.searchsorted(self.cuts[name], x, side="right") for name, x in num.items()}
            g.add_values(num, bins, {f.name: cols[f.name] for f in CATEGORICAL}, cols["churn_probability"], None)
            pairs = [
                (e.probability, c)
                for e, (_, c), _ in items
                if e.values is not None and e.probability is not None and type(c) is bool
            ]
            if pairs:
                g.expected.add(np.array([p for p, _ in pairs]), np.array([c for _, c in pairs], dtype=bool))
            stamps = [s for _, (s, _), _ in items if s is not None]
            g.span(min(stamps, default=None), max(stamps, default=None), min(p for _, _, p in items))

    # ------------------------------------------------------------------ chunks

    def _keys(self, secs: np.ndarray, counted: np.ndarray) -> np.ndarray:
        if self.chunking.lines is not None:
            return counted // self.chunking.lines
        step = self.chunking.seconds or 1
        keys = np.full(secs.size, UNDATED, dtype=np.int64)
        dated = ~np.isnan(secs)
        keys[dated] = np.floor(secs[dated] / step).astype(np.int64)
        return keys

    def _group(self, key: int, version: str | None) -> Group:
        return self.groups.setdefault(key, {}).setdefault(version, Group())


def _feature_columns(features: list[Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Numeric values (NaN where absent) and category codes (-1 where absent) of decoded features."""
    n = len(features)
    numeric = {f.name: np.fromiter(map(attrgetter(f.name), features), np.float64, n) for f in NUMERIC}
    codes = {f.name: np.fromiter(map(attrgetter(f"{f.name}.code"), features), np.int64, n) for f in CATEGORICAL}
    return numeric, codes


_KIND = attrgetter(logformat.KIND)
_FEATURES = attrgetter(logformat.FEATURES)
_TS = attrgetter(logformat.TS)
_PROBABILITY = attrgetter(logformat.PROBABILITY)
_CHURN = attrgetter(logformat.CHURN)
_MODEL_VERSION = attrgetter(logformat.MODEL_VERSION)


def _seconds(stamps: list[str | None]) -> np.ndarray:
    """Each ``ts`` as epoch seconds, NaN when undated: :func:`~churnops.report.chunks.ts_seconds`'s reading.

    Stamps in the service's form are read at once with numpy; any other (another ISO form, an
    impossible date) is left to ``ts_seconds`` one by one.
    """
    n = len(stamps)
    secs = np.full(n, np.nan)
    try:
        joined = "\n".join(stamps)  # type: ignore[arg-type]
    except TypeError:  # some lines have no ts
        joined = ""
        if stamps.count(None) == n:
            return secs
    width = len(_STAMP) + 1
    # Every stamp is 27 characters iff the n - 1 newlines are the separators, at every 28th place.
    if len(joined) == width * n - 1 and joined.isascii() and joined.count("\n") == n - 1:
        chars = np.frombuffer((joined + "\n").encode("ascii"), np.uint8).reshape(n, width)
        if (chars[:, -1] == 10).all():
            # A batch's lines share one stamp: each run of equal stamps is read once.
            words = chars.view(np.uint32)  # 7 words a row: compared 4 bytes at a time
            first = np.flatnonzero(np.concatenate(([True], (words[1:] != words[:-1]).any(axis=1))))
            secs = np.repeat(_canonical_seconds(chars[first, :-1]), np.diff(first, append=n))
    for i in np.flatnonzero(np.isnan(secs)).tolist():
        value = ts_seconds(stamps[i])
        if value is not None:
            secs[i] = value
    return secs


def _canonical_seconds(chars: np.ndarray) -> np.ndarray:
    """Stamps of exactly the service's form (rows of 27 bytes) as epoch seconds; NaN for any other.

    Only dates ``datetime.fromisoformat`` takes (real days, hours below 24, seconds below 60)
    and years where microseconds since 1970 fit a double exactly, so ``us / 1e6`` rounds as
    ``timestamp()`` does.
    """
    rows = np.ascontiguousarray(chars.T)  # one row per place in the stamp: the arithmetic runs along rows
    form: np.ndarray = np.logical_and.reduce((rows >= _STAMP_LOW[:, None]) & (rows <= _STAMP_HIGH[:, None]), axis=0)
    d = rows.astype(np.int32) - ord("0")
    year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]
    month, day = d[5] * 10 + d[6], d[8] * 10 + d[9]
    hour, minute, second = d[11] * 10 + d[12], d[14] * 10 + d[15], d[17] * 10 + d[18]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    form &= (year >= 1970) & (year < 2200) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    form &= (hour < 24) & (minute < 60) & (second < 60)
    # Days since 1970-01-01 in the proleptic Gregorian calendar (years counted from March).
    y = year - (month <= 2)
    era, yoe = y // 400, y % 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = (era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468).astype(np.int64)
    micros = (days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000 + _MICROS @ d[20:26]
    return np.where(form, micros / 1e6, np.nan)


def segments(logs: Sequence[str | Path]) -> list[Segment]:
    """The files and archived objects of ``logs`` (paths, globs, archives, ``s3://`` URLs), oldest first."""
    return logsource.forward_segments(logsource.resolve(logs))


def scan(logs: Sequence[Segment], stats: TrainStats, chunking: Chunking) -> Scanner:
    """Read the logs' files and objects (:func:`segments`) into per-chunk groups (see the module docstring)."""
    scanner = Scanner(stats, chunking)
    scanner.read(logs)
    return scanner
