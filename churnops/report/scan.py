"""Read a prediction log once, in big blocks, into per-chunk, per-version :class:`~.groups.Group` sums.

Parsing ten million lines one by one (orjson, then a dict per line) costs more than the
whole time budget, so a block of well-formed lines is parsed at once by pyarrow's JSON
reader into columns, and the schema checks run on those columns with numpy. Every line the
columnar path cannot vouch for (a rejection, a value out of the schema, a NaN, a blank
line, a block that does not parse) is classified by the monitor's own
:func:`churnops.monitor.records.parse_line`, so each line gets the monitor's verdict and
reasons either way. Lines longer than the monitor's limit are ``too_long`` as in the monitor;
a file's unterminated last line that is not JSON is ``partial``.

Chunks (:mod:`churnops.report.chunks`) follow the lines' ``ts`` or their count, in the order
the log is read: archived objects and rotated files oldest first, then the live file, as
:func:`churnops.core.logsource.forward_segments` orders them for the label join too.

Length: one concern, one read of the log into sums. The columnar path's guards (the schema's
checks, the stamps it may not trust) decide which lines go to the fallback, so they stay beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
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

_CANONICAL_TS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
"""The form the service writes a ``ts`` in (RFC 3339, UTC, microseconds)."""

BLOCK_BYTES = 8 << 20
"""Bytes parsed at once: ~25,000 lines; large enough that per-block costs vanish, small enough for flat memory."""
Groups = dict[int, dict[str | None, Group]]
"""chunk key -> model_version (None: the line names none) -> its sums."""


class Scanner:
    """Adds blocks of lines to :attr:`groups`; one per report."""

    def __init__(self, stats: TrainStats, chunking: Chunking) -> None:
        import pyarrow as pa
        import pyarrow.json as pj

        self.chunking = chunking
        self.groups: Groups = {}
        self.position = 0  # lines read so far, blank ones included (labeljoin's order_pos)
        self.counted = 0  # non-blank lines so far (chunking by count)
        self.cuts = {f.name: numeric_bins(stats.numeric[f.name].psi_bins).cuts for f in NUMERIC}
        feature_type = pa.struct(
            [(f.name, pa.float64()) for f in NUMERIC] + [(f.name, pa.string()) for f in CATEGORICAL]
        )
        schema = pa.schema(
            [
                (logformat.TS, pa.string()),
                (logformat.MODEL_VERSION, pa.string()),
                (logformat.KIND, pa.string()),
                (logformat.FEATURES, feature_type),
                (logformat.PROBABILITY, pa.float64()),
                (logformat.CHURN, pa.bool_()),
            ]
        )
        self._parse_options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        self._read_options = pj.ReadOptions(use_threads=False, block_size=BLOCK_BYTES + MAX_LINE_BYTES + 1)

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
        """A block of whole lines, each ending in a newline."""
        import pyarrow as pa
        import pyarrow.json as pj

        buf = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        starts = np.concatenate(([0], ends[:-1] + 1))
        lengths = ends - starts
        # A line the reader can vouch for starts with '{"' and ends with '}', so no JSON value spans
        # two lines and rows match lines one to one (blank lines are not rows).
        well_formed = (lengths >= 2) & (lengths <= MAX_LINE_BYTES)
        if well_formed.all():
            well_formed = (buf[starts] == 123) & (buf[starts + 1] == 34) & (buf[ends - 1] == 125)
        if not well_formed.all():
            self._lines(block, starts, ends)
            return
        try:
            table = pj.read_json(
                pa.py_buffer(block), read_options=self._read_options, parse_options=self._parse_options
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            table = None
        if table is None or table.num_rows != ends.size:
            self._lines(block, starts, ends)
            return
        self._columns(table, block, starts, ends)

    def _columns(self, table: Any, block: memoryview, starts: np.ndarray, ends: np.ndarray) -> None:
        import pyarrow.compute as pc

        n = ends.size
        features = table.column(logformat.FEATURES).combine_chunks()
        ok = np.asarray(pc.is_null(table.column(logformat.KIND)).to_numpy(zero_copy_only=False), dtype=bool)
        ok &= features.is_valid().to_numpy(zero_copy_only=False)
        numeric: dict[str, np.ndarray] = {}
        for f in NUMERIC:
            col = features.field(f.name)
            x = col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)  # nulls become NaN
            good = (x >= f.low) & (x <= f.high)  # NaN (a null, or NaN that orjson refuses) fails too
            if f.integer:
                good &= np.floor(x) == x
            ok &= good
            numeric[f.name] = x
        codes: dict[str, np.ndarray] = {}
        import pyarrow as pa

        for cf in CATEGORICAL:
            index = pc.index_in(features.field(cf.name), value_set=pa.array(cf.categories))
            c = index.to_numpy(zero_copy_only=False)
            c = np.where(np.isnan(c), -1, c).astype(np.int64) if c.dtype.kind == "f" else c.astype(np.int64)
            ok &= c >= 0
            codes[cf.name] = c
        ts_col = table.column(logformat.TS).combine_chunks()
        canonical = pc.match_substring_regex(ts_col, _CANONICAL_TS)
        stamp = pc.strptime(
            pc.utf8_slice_codeunits(ts_col, 0, 19), format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True
        )
        secs = pc.if_else(canonical, stamp.cast(pa.int64()), None).to_numpy(zero_copy_only=False)
        secs = np.asarray(secs, dtype=np.float64)  # NaN: no canonical stamp
        _drop_rolled_over(secs, ts_col)
        odd = np.flatnonzero(np.isnan(secs) & ts_col.is_valid().to_numpy(zero_copy_only=False))
        if odd.size:  # a stamp in another ISO form: the monitor's own reading of it
            for i, ts in zip(odd, ts_col.take(pa.array(odd)).to_pylist(), strict=True):
                value = ts_seconds(ts)
                secs[i] = np.nan if value is None else value
        counted = np.arange(self.counted, self.counted + n)  # all lines here are non-blank
        bad = np.flatnonzero(~ok)
        if bad.size:
            lines = [bytes(block[starts[i] : ends[i]]) for i in bad]
            self._slow(lines, [True] * bad.size, positions=self.position + bad, counted=counted[bad])
        good = np.flatnonzero(ok)
        proba = table.column(logformat.PROBABILITY).combine_chunks().to_numpy(zero_copy_only=False)
        proba = np.asarray(proba, dtype=np.float64)
        has_p = (proba >= 0.0) & (proba <= 1.0)  # the monitor's _probability: NaN and null fail
        churn = table.column(logformat.CHURN).combine_chunks()
        decided = churn.is_valid().to_numpy(zero_copy_only=False)
        decision = churn.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        version = table.column(logformat.MODEL_VERSION).combine_chunks().dictionary_encode()
        vcodes = version.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        names: list[str | None] = version.dictionary.to_pylist()
        keys = self._keys(secs, counted)
        self.counted += n
        group_id = keys[good] * (len(names) + 1) + (vcodes[good] + 1)
        for gid in np.unique(group_id):
            rows = good[group_id == gid]
            key, v = int(keys[rows[0]]), int(vcodes[rows[0]])
            g = self._group(key, names[v] if v >= 0 else None)
            g.add_valid(int(rows.size), int((~has_p[rows]).sum()))
            num = {name: x[rows] for name, x in numeric.items()}
            bins = {name: np.searchsorted(self.cuts[name], x, side="right") for name, x in num.items()}
            p_rows = rows[has_p[rows]]
            with_decision = p_rows[decided[p_rows]]
            g.add_values(num, bins, {name: c[rows] for name, c in codes.items()}, proba[p_rows], None)
            g.expected.add(proba[with_decision], decision[with_decision])
            s = secs[rows]
            dated = s[~np.isnan(s)]
            g.span(
                float(dated.min()) if dated.size else None,
                float(dated.max()) if dated.size else None,
                self.position + int(rows[0]) + 1,
            )
        self.position += n

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


def _drop_rolled_over(secs: np.ndarray, ts_col: Any) -> None:
    """Set to NaN the stamps strptime rolled over: it reads 02-30 as 03-02 and :60 as the next minute.

    The monitor's reading refuses such a stamp, so the line is undated here too. A rolled-over
    stamp lands on second 0 or on a month's first three days, so only those (about one in eight)
    are compared with the day and second written; a full format-back would cost a second per
    million lines.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    dated = np.flatnonzero(~np.isnan(secs))
    if not dated.size:
        return
    whole = secs[dated].astype(np.int64)
    day = whole // 86_400
    first = int(day.min())
    # Day of month per day number, from a table over the block's few days (not per line).
    span = np.arange(first, int(day.max()) + 1).astype("datetime64[D]")
    month_day = (span - span.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    read_day = month_day[day - first]
    suspects = np.flatnonzero((whole % 60 == 0) | (read_day <= 3))
    if not suspects.size:
        return
    text = ts_col.take(pa.array(dated[suspects]))
    written_day = pc.cast(pc.utf8_slice_codeunits(text, 8, 10), pa.int64()).to_numpy()
    written_second = pc.cast(pc.utf8_slice_codeunits(text, 17, 19), pa.int64()).to_numpy()
    wrong = (read_day[suspects] != written_day) | (whole[suspects] % 60 != written_second)
    secs[dated[suspects[wrong]]] = np.nan


def segments(logs: Sequence[str | Path]) -> list[Segment]:
    """The files and archived objects of ``logs`` (paths, globs, archives, ``s3://`` URLs), oldest first."""
    return logsource.forward_segments(logsource.resolve(logs))


def scan(logs: Sequence[Segment], stats: TrainStats, chunking: Chunking) -> Scanner:
    """Read the logs' files and objects (:func:`segments`) into per-chunk groups (see the module docstring)."""
    scanner = Scanner(stats, chunking)
    scanner.read(logs)
    return scanner
