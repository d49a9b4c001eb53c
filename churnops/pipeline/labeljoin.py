"""Delayed labels joined to the prediction log: the live model's real performance.

Churn labels arrive weeks after the prediction. A label names a ``customer_id`` (which
``/predict`` echoes and logs, :mod:`churnops.core.logformat`), its ``churn`` (0/1) and
optionally when it was ``observed_at``. :func:`join` pairs each label with the NEWEST
logged prediction for that customer, not later than ``observed_at`` when it is given
(newest = latest ``ts``, then later in the log; a record without ``ts``, such as
generated traffic, is taken as older than any stamped one and never excluded by
``observed_at``). Batch rows count like single ones. Labels with no prediction are
counted (``n_unmatched``) by reason (:data:`UNMATCHED_REASONS`), never guessed. The log is
streamed as bytes (:func:`log_streams`, the one way in), keeping per label only where its best
line so far is, then read again for those lines (:mod:`churnops.pipeline.labelscan`): memory
follows the labels, not the log.

:func:`report` computes the figures on the joined rows: what a person gets by joining
the two files by hand and calling scikit-learn (a test holds it to that, to 1e-9). It reads
four of their columns, which :func:`decisions` gives without the frame: ``churnops feedback``
imports no pandas and builds no frame (about a third of its memory).

Simulated traffic (``generate``) carries no model decision: :func:`join` scores those
rows with the model it is given (the ``feedback`` stage gives it the model the pipeline just
built), so a fresh clone measures its own candidate on the simulated traffic.

:func:`labeled_lines` keeps the log lines a set of labels can join, raw and in the join's order
(:func:`log_lines`): what ``churnops feedback snapshot`` versions, so the join on it equals the
join on the whole log.

Length: one concern, the labels-to-predictions loop: reading labels (CSV or JSON lines, bad rows
counted by reason), the join, the report and the labeled dataset. Splitting the readers
from the join would only move their shared constants (and the log order the snapshot must copy).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter, methodcaller, ne
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import orjson

from churnops.core import gcpause, logsource
from churnops.core.errors import InputError
from churnops.core.logformat import (
    CUSTOMER_ID,
    CUSTOMER_ID_PATTERN,
    MODEL_VERSION,
    rfc3339,
)
from churnops.core.schema import FEATURE_NAMES, LABEL

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from churnops.pipeline.labelscan import FastScan, Scan, Winners
    from churnops.pipeline.scorer import Scorer

    Scanned = FastScan | Scan
    """A settled scan of the log, either way it was read."""

OBSERVED_AT = "observed_at"
HOLDOUT = "holdout"
STATUS_OK, STATUS_DEGRADED, STATUS_INSUFFICIENT = "ok", "degraded", "insufficient_labels"

# Reasons a label row is skipped.
BAD_CUSTOMER_ID = "bad customer_id"
BAD_CHURN = "bad churn"
BAD_OBSERVED_AT = "bad observed_at"
NOT_A_RECORD = "not a record"

# Reasons a label finds no prediction, checked in this order.
UNMATCHED_OLDER = "older than the oldest log line"
"""``observed_at`` is before every stamped prediction read: its prediction may have left the log."""
UNMATCHED_LATER = "only predictions after observed_at"
UNMATCHED_NONE = "no prediction for the customer"
UNMATCHED_REASONS = (UNMATCHED_OLDER, UNMATCHED_LATER, UNMATCHED_NONE)

FRAME_COLUMNS = (*FEATURE_NAMES, LABEL, CUSTOMER_ID, "order_ts", "order_pos", MODEL_VERSION, "churn_probability",
                 "predicted")  # fmt: skip
"""The columns of :func:`join`'s rows."""

# Formats of a labels file (its conventional suffix).
CSV, JSON_LINES = "csv", "jsonl"

_ID = re.compile(CUSTOMER_ID_PATTERN)
_NORMAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
"""A stamp as :func:`churnops.core.logformat.rfc3339` writes it."""


class Label(NamedTuple):
    """One label row (a tuple: a file holds hundreds of thousands, five times cheaper than a frozen dataclass)."""

    customer_id: str
    churn: int
    observed_at: str | None
    """RFC 3339 UTC with microseconds, as the log's ``ts`` (so strings compare as times)."""


@dataclass
class Labels:
    labels: list[Label]
    skipped: Counter[str] = field(default_factory=Counter)
    format: str = CSV
    """:data:`CSV` or :data:`JSON_LINES`, as the file was told apart."""


def _churn(value: Any) -> int | None:
    if type(value) is int and value in (0, 1):
        return value
    if type(value) is bool:
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    return None


def _observed_at(value: Any) -> tuple[bool, str | None]:
    """(ok, normalised) for an ``observed_at`` value; empty or absent is ok and None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True, None
    if not isinstance(value, str):
        return False, None
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        return False, None
    if "1970" <= value < "2038" and _NORMAL.fullmatch(value):
        return True, value  # already normal: before 2038 the float round trip below gives it back exactly
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return True, rfc3339(t.timestamp())


def _label(row: Any, skipped: Counter[str]) -> Label | None:
    if not isinstance(row, dict):
        skipped[NOT_A_RECORD] += 1
        return None
    cid = row.get(CUSTOMER_ID)
    if not isinstance(cid, str) or not _ID.match(cid):
        skipped[BAD_CUSTOMER_ID] += 1
        return None
    churn = _churn(row.get(LABEL))
    if churn is None:
        skipped[BAD_CHURN] += 1
        return None
    ok, observed = _observed_at(row.get(OBSERVED_AT))
    if not ok:
        skipped[BAD_OBSERVED_AT] += 1
        return None
    return Label(cid, churn, observed)


def read_labels(path: str | Path) -> Labels:
    """Read a labels file: CSV (a header with ``customer_id`` and ``churn``) or JSON lines.

    The format is told by the first non-blank character (``{`` = JSON lines). Bad rows are
    skipped and counted by reason.

    Raises:
        DataError: the file cannot be read, or a CSV lacks a required column.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read labels: {err.strerror or err}") from None
    return parse_labels(data, path)


@gcpause.paused()
def parse_labels(data: bytes, path: str | Path) -> Labels:
    """:func:`read_labels` of a file's bytes (``path`` names it in errors).

    Raises:
        DataError: the bytes are not UTF-8, or a CSV lacks a required column.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: cannot read labels: {err}") from None
    out = Labels([])
    if text.lstrip().startswith("{"):
        out.format = JSON_LINES
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                out.skipped[NOT_A_RECORD] += 1
                continue
            if (label := _label(row, out.skipped)) is not None:
                out.labels.append(label)
        return out
    if _plain_csv(text, out):
        return out
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in (CUSTOMER_ID, LABEL) if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}: labels file lacks column(s) {missing} (CSV with a header, or JSON lines)")
    for row in reader:
        if (label := _label(row, out.skipped)) is not None:
            out.labels.append(label)
    return out


def _plain_csv(text: str, out: Labels) -> bool:
    """Read a CSV with no quote, CR or NUL and distinct header names as :class:`csv.DictReader` would, into ``out``.

    Such a file is split on newlines and commas alone, with no dict per row: a third of the time.
    False (nothing read) for any other file.
    """
    if '"' in text or "\r" in text or "\0" in text:
        return False
    lines = text.split("\n")
    header = lines[0].split(",")
    if len(set(header)) != len(header) or CUSTOMER_ID not in header or LABEL not in header:
        return False
    if lines[-1] == "":
        lines.pop()
    at_id, at_churn = header.index(CUSTOMER_ID), header.index(LABEL)
    at_observed = header.index(OBSERVED_AT) if OBSERVED_AT in header else None
    if _whole_columns(lines[1:], len(header), at_id, at_churn, at_observed, out):
        return True
    observed_at: dict[str, tuple[bool, str | None]] = {}  # stamps repeat: each is checked once
    labels, skipped, valid_id = out.labels, out.skipped, _ID.match
    new_label = tuple.__new__  # Label's own __new__ is Python code: a third of the time here
    for line in lines[1:]:
        if not line:
            continue  # DictReader skips empty rows
        row = line.split(",")
        n = len(row)
        cid = row[at_id] if at_id < n else None
        if cid is None or not valid_id(cid):
            skipped[BAD_CUSTOMER_ID] += 1
            continue
        churn = row[at_churn].strip() if at_churn < n else None
        if churn != "0" and churn != "1":
            skipped[BAD_CHURN] += 1
            continue
        value = row[at_observed] if at_observed is not None and at_observed < n else None
        if value is None:
            ok, observed = True, None
        elif (known := observed_at.get(value)) is not None:
            ok, observed = known
        else:
            ok, observed = observed_at[value] = _observed_at(value)
        if not ok:
            skipped[BAD_OBSERVED_AT] += 1
            continue
        labels.append(new_label(Label, (cid, int(churn), observed)))
    return True


_IDS = re.compile(f"(?:{CUSTOMER_ID_PATTERN.strip('^$')}\n)*")
"""Valid customer_ids, each followed by a newline."""


def _whole_columns(
    rows: list[str], width: int, at_id: int, at_churn: int, at_observed: int | None, out: Labels
) -> bool:
    """:func:`_plain_csv`'s rows read a column at a time, when every row is a valid label of ``width`` fields.

    False (nothing read) otherwise: then the rows are read one by one.
    """
    if not rows or "" in rows or any(map(ne, map(methodcaller("count", ","), rows), repeat(width - 1))):
        return False
    cells = ",".join(rows).split(",")
    ids = cells[at_id::width]
    if _IDS.fullmatch("\n".join(ids) + "\n") is None:
        return False
    churn = {value: value.strip() for value in set(cells[at_churn::width])}
    if not set(churn.values()) <= {"0", "1"}:
        return False
    churns = map({value: int(text) for value, text in churn.items()}.__getitem__, cells[at_churn::width])
    if at_observed is None:
        observed: Iterable[str | None] = repeat(None)
    else:
        normal = {value: _observed_at(value) for value in set(cells[at_observed::width])}
        if not all(ok for ok, _ in normal.values()):
            return False
        observed = map({value: stamp for value, (_, stamp) in normal.items()}.__getitem__, cells[at_observed::width])
    # Label's own __new__ is Python code: most of the time here.
    out.labels.extend(
        map(tuple.__new__, repeat(Label), zip(ids, churns, observed, strict=False))
    )  # observed may repeat None
    return True


LogSource = Callable[[], Iterable[IO[bytes]]]
"""Opens a log's byte streams, oldest first: the join reads them twice (three times, rarely: see :func:`join`)."""


def log_streams(paths: Sequence[str | Path]) -> Iterator[IO[bytes]]:
    """The log's byte streams in the order the join reads them: every reader of a log goes through here.

    ``paths`` are log specs (:mod:`churnops.core.logsource`: live logs, globs, archives), read
    spec after spec, each oldest first (archived objects by time, then ``X.2``, ``X.1``, ``X``).
    A stream is closed when the next is asked for.
    """
    yield from logsource.log_streams(paths)


def log_source(paths: Sequence[str | Path]) -> LogSource:
    """The logs at ``paths`` (with their rotated files) as :func:`join` reads them."""
    paths = list(paths)
    return lambda: log_streams(paths)


def log_lines(paths: Sequence[str | Path]) -> Iterator[bytes]:
    """The raw lines of the logs, in the order the join reads them (streamed).

    A line keeps its newline, except maybe a stream's last.
    """
    for stream in log_streams(paths):
        yield from stream


# Every string value of a "customer_id" key, when the line holds no backslash (no escapes, so
# each string is spelled literally and a record's own customer_id is among the matches).
_ID_VALUES = re.compile(rb'"customer_id"\s*:\s*"([^"\\]*)"')


def labeled_lines(lines: Iterable[bytes], ids: Collection[str]) -> Iterator[tuple[str, bytes]]:
    """(customer_id, raw line) of the lines the join reads for a customer in ``ids``, in order.

    A position in the log only orders predictions, and these lines keep their order, so the
    join of labels for ``ids`` on them equals its join on all lines. Only lines that may name
    such a customer are parsed: a line without a backslash whose ``customer_id`` strings are
    all outside ``ids`` cannot.
    """
    from churnops.pipeline.labelscan import logged

    wanted = {i.encode() for i in ids}
    for line in lines:
        if b"\\" not in line and not any(m in wanted for m in _ID_VALUES.findall(line)):
            continue
        if (hit := logged(line)) is not None and hit.customer_id in ids:
            yield hit.customer_id, line


@dataclass
class Unmatched:
    """Labels that found no prediction, by reason (:data:`UNMATCHED_REASONS`), and the log's reach."""

    reasons: Counter[str] = field(default_factory=Counter)
    oldest_ts: str | None = None
    """The oldest ``ts`` of a prediction naming a customer in the log read (None: none stamped)."""

    @property
    def total(self) -> int:
        return sum(self.reasons.values())


@gcpause.paused()
def join(
    labels: Sequence[Label],
    log: LogSource,
    scorer: Scorer | None = None,
    version: str | None = None,
) -> tuple[pd.DataFrame, Unmatched]:
    """Pair each label with its newest eligible prediction, streaming ``log``.

    Memory follows the labels: per customer and ``observed_at``, only where the winning line so far
    is (:class:`churnops.pipeline.labelscan.FastScan`: blocks decoded at once, stamps as integers),
    then those lines, read again. If that scan cannot vouch for its result (a stamp of another form
    than the writers', a line two parsers read differently), the log is read once more, parsing
    every line that may name a customer.

    Returns:
        (joined rows, unmatched labels). The rows hold the five features, ``churn`` (the
        label), ``churn_probability`` and ``predicted`` (the logged ones; for a record with no
        logged decision, ``scorer``'s, under its version), ``model_version``, ``customer_id``
        and ``order_ts``/``order_pos`` (the prediction's ts and line number; sorted, newest last).
    """
    slot_of, scan, kept = _read(labels, log, all_features=True)
    return _frame(labels, slot_of, scan, kept, scorer, version)


@gcpause.paused()
def decisions(
    labels: Sequence[Label],
    log: LogSource,
    scorer: Scorer | None = None,
    version: str | None = None,
) -> tuple[dict[str, np.ndarray], Unmatched]:
    """What :func:`report` reads of :func:`join`'s rows, without the frame: no pandas, ~half the memory.

    Returns:
        (columns, unmatched labels): ``churn``, ``churn_probability`` (NaN: no decision),
        ``predicted`` and ``model_version`` of the joined rows, in :func:`join`'s order, as numpy arrays.
    """
    import numpy as np

    slot_of, scan, kept = _read(labels, log, all_features=False)
    unmatched, rows, slots = _matched(labels, slot_of, scan)
    probability, predicted, versions = (
        _gather(kept.columns[name], slots) for name in ("churn_probability", "predicted", MODEL_VERSION)
    )
    unscored = [j for j in range(len(slots)) if probability[j] is None or predicted[j] is None]
    if unscored and scorer is not None:
        records = [{n: kept.columns[n][slots[j]] for n in FEATURE_NAMES} for j in unscored]
        probs = scorer.predict_proba_records(records)
        for j, p, decided in zip(unscored, probs.tolist(), (probs >= scorer.threshold).tolist(), strict=True):
            probability[j], predicted[j], versions[j] = p, decided, version
    return {
        LABEL: np.fromiter(map(itemgetter(1), _gather(labels, rows)), dtype=np.int64, count=len(rows)),
        "churn_probability": np.array([np.nan if p is None else p for p in probability], dtype=float),
        "predicted": np.array(predicted, dtype=object),
        MODEL_VERSION: np.array(versions, dtype=object),
    }, unmatched


def _gather(values: Sequence[Any], at: list[int]) -> list[Any]:
    """``[values[i] for i in at]``, in C."""
    return list(itemgetter(*at)(values)) if len(at) > 1 else [values[i] for i in at]


def _read(labels: Sequence[Label], log: LogSource, all_features: bool) -> tuple[np.ndarray, Scanned, _Kept]:
    """(each label's slot, the settled scan, the winners' values): the join before its rows are built."""
    import numpy as np

    from churnops.pipeline.labelscan import FastScan, Scan, Unvouched

    keys = list(zip(map(itemgetter(0), labels), map(itemgetter(2), labels), strict=True))  # (customer_id, observed_at)
    slots = list(dict.fromkeys(keys))
    if len(set(map(itemgetter(0), slots))) != len(slots):  # a customer labeled at several observed_at
        slots.sort(key=itemgetter(0))  # a customer's slots side by side
    index = dict(zip(slots, range(len(slots)), strict=True))
    slot_of = np.fromiter(map(index.__getitem__, keys), dtype=np.int64, count=len(keys))
    del keys, index
    customers, observed = list(map(itemgetter(0), slots)), list(map(itemgetter(1), slots))
    try:
        fast = FastScan(customers, observed)
        fast.read(log())
        winners = fast.settle(log(), all_features)
        if winners is not None:
            return slot_of, fast, _Kept(len(slots), winners)
    except Unvouched:
        pass
    scan = Scan(customers, observed)
    scan.read(log())
    return slot_of, scan, _Kept(len(slots), scan.settle(all_features))


class _Kept:
    """Per slot, what a row shows of its winning prediction (strings shared where they repeat)."""

    def __init__(self, n: int, winners: Winners) -> None:
        import numpy as np

        slots = np.array(winners.slots, dtype=np.int64)
        shared: dict[Any, Any] = {}
        versions = [shared.setdefault(v, v) for v in winners.model_version]
        logged = (winners.ts, versions, winners.probability, winners.churn)
        self.columns: dict[str, list[Any]] = {}
        for name, values in zip(_LOGGED, logged, strict=True):
            scattered = np.full(n, None, dtype=object)
            scattered[slots] = np.array(values, dtype=object) if values else None
            self.columns[name] = scattered.tolist()
        for name in FEATURE_NAMES:
            column = [None] * n
            for s, features in winners.features.items():
                value = features.get(name)
                column[s] = shared.setdefault(value, value) if type(value) is str else value
            self.columns[name] = column


_LOGGED = ("order_ts", MODEL_VERSION, "churn_probability", "predicted")


def _frame(
    labels: Sequence[Label], slot_of: np.ndarray, scan: Scanned, kept: _Kept, scorer: Scorer | None, version: str | None
) -> tuple[pd.DataFrame, Unmatched]:
    import pandas as pd

    unmatched, rows, slots = _matched(labels, slot_of, scan)
    probability, predicted = kept.columns["churn_probability"], kept.columns["predicted"]
    unscored = [j for j, s in enumerate(slots) if probability[s] is None or predicted[s] is None]
    records = [{n: kept.columns[n][slots[j]] for n in FEATURE_NAMES} for j in unscored] if scorer else []

    def column(name: str) -> list[Any]:
        if name in kept.columns:
            return _gather(kept.columns[name], slots)
        if name == "order_pos":
            return list(scan.best_pos[slots].tolist())
        return [labels[i].churn for i in rows] if name == LABEL else [labels[i].customer_id for i in rows]

    # A column at a time, each list dropped once converted: the frame's peak memory is ~half that
    # of building it from all the lists at once (pandas infers the same types either way).
    frame = pd.DataFrame({name: pd.Series(column(name), dtype=None if rows else object) for name in FRAME_COLUMNS})
    if unscored and scorer is not None:
        probs = scorer.predict_proba_records(records)
        frame["churn_probability"] = frame["churn_probability"].astype(float)
        frame["predicted"] = frame["predicted"].astype(object)
        frame.loc[unscored, "churn_probability"] = probs
        frame.loc[unscored, "predicted"] = probs >= scorer.threshold
        frame.loc[unscored, MODEL_VERSION] = version
    frame["churn_probability"] = frame["churn_probability"].astype(float)  # NaN: no decision, no model
    return frame, unmatched


def _matched(labels: Sequence[Label], slot_of: np.ndarray, scan: Scanned) -> tuple[Unmatched, list[int], list[int]]:
    """(unmatched labels by reason, the matched labels, their slots), oldest prediction first."""
    import numpy as np

    oldest = scan.oldest_ts
    unmatched = Unmatched(oldest_ts=oldest)
    matched = scan.has_best[slot_of]
    for i in np.flatnonzero(~matched).tolist():
        label, slot = labels[i], int(slot_of[i])
        if label.observed_at is not None and oldest is not None and label.observed_at < oldest:
            unmatched.reasons[UNMATCHED_OLDER] += 1
        else:
            unmatched.reasons[UNMATCHED_LATER if scan.has_later[slot] else UNMATCHED_NONE] += 1
    rows = np.flatnonzero(matched)
    slots = slot_of[rows]
    order = np.lexsort((rows, scan.best_pos[slots], scan.best_key[slots]))  # oldest first; ties in label order
    return unmatched, rows[order].tolist(), slots[order].tolist()


def figures(frame: pd.DataFrame | Mapping[str, Any]) -> dict[str, Any]:
    """The performance figures of joined rows (scikit-learn's, on exactly these rows).

    ``frame``: :func:`join`'s rows, or :func:`decisions`' columns. Rows with no decision
    (generated traffic and no model to score it) are left out.
    """
    y, proba, predicted, _ = _decided(frame)
    return _figures(y, proba, predicted)


def _decided(frame: pd.DataFrame | Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(label, probability, decision, model version) of the rows, as numpy arrays."""
    import numpy as np

    names = (LABEL, "churn_probability", "predicted", MODEL_VERSION)
    y, proba, predicted, versions = (np.asarray(frame[name], dtype=float if name == "churn_probability" else None)
                                     for name in names)  # fmt: skip
    return y, proba, predicted, versions


def _figures(y: np.ndarray, proba: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    import numpy as np

    from churnops.pipeline.classification import Counts, Curve

    decided = ~np.isnan(proba)
    n = int(decided.sum())
    if n == 0:
        return {"n_labeled": 0, "f1": None, "precision": None, "recall": None, "roc_auc": None,
                "mean_probability": None, "observed_churn_rate": None}  # fmt: skip
    y, pred, proba = y[decided].astype(int), predicted[decided].astype(bool).astype(int), proba[decided]
    both = len(set(y.tolist())) == 2
    counts = Counts.of(y, pred)
    return {
        "n_labeled": n,
        "f1": counts.f1,
        "precision": counts.precision,
        "recall": counts.recall,
        "roc_auc": Curve.of(y, proba).roc_auc() if both else None,
        "mean_probability": float(proba.mean()),
        "observed_churn_rate": float(y.mean()),
    }


def report(
    frame: pd.DataFrame | Mapping[str, Any], unmatched: Unmatched, skipped: Counter[str], min_f1: float, min_labels: int
) -> dict[str, Any]:
    """The feedback report: overall figures, per model version, and a status.

    ``frame``: :func:`join`'s rows, or :func:`decisions`' columns. The status rule, the only one
    (the ``feedback`` stage and ``churnops feedback`` both pass ``feedback.min_f1`` and
    ``feedback.min_labels``): :data:`STATUS_INSUFFICIENT` below ``min_labels`` joined rows with a
    decision, else :data:`STATUS_DEGRADED` when the live F1 is below ``min_f1``, else
    :data:`STATUS_OK`. ``train.gate_f1`` is the build's gate, not this.
    """
    import numpy as np

    y, proba, predicted, versions = _decided(frame)
    overall = _figures(y, proba, predicted)
    if overall["n_labeled"] < min_labels:
        status = STATUS_INSUFFICIENT
    elif overall["f1"] < min_f1:
        status = STATUS_DEGRADED
    else:
        status = STATUS_OK
    named = sorted({v for v in versions.tolist() if v is not None and v == v})  # NaN != NaN: no version
    per_version = {}
    for v in named:
        rows = versions == v
        per_version[str(v)] = _figures(y[rows], proba[rows], predicted[rows])
    return {
        "status": status,
        **overall,
        "n_unmatched": unmatched.total,
        "unmatched": {reason: unmatched.reasons[reason] for reason in UNMATCHED_REASONS if unmatched.reasons[reason]},
        "log_oldest_ts": unmatched.oldest_ts,
        "n_unscored": int(np.isnan(proba).sum()),
        "n_skipped": sum(skipped.values()),
        "skipped": dict(sorted(skipped.items())),
        "min_f1": min_f1,
        "min_labels": min_labels,
        "per_model_version": per_version,
    }


def headline(rep: dict[str, Any]) -> dict[str, Any]:
    """The scalars of a report that go to the DVC metric file."""
    return {k: rep[k] for k in ("f1", "roc_auc", "n_labeled")}


COLUMNS = ("n_labeled", "f1", "precision", "recall", "roc_auc", "mean_probability", "observed_churn_rate")
"""The figures a report's table shows, in order, after ``model_version``."""


def table_rows(rep: dict[str, Any]) -> list[list[str]]:
    """The table's rows: one per model version, then ``all``; the version, then :data:`COLUMNS`."""

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    named = [*rep["per_model_version"].items(), ("all", rep)]
    return [[name, *(fmt(figs[c]) for c in COLUMNS)] for name, figs in named]


def status_line(rep: dict[str, Any]) -> str:
    """The line under the table: the status, the rule's thresholds, and the labels not used."""
    skipped = ", ".join(f"{k}: {v}" for k, v in rep["skipped"].items())
    return (
        f"status: {rep['status']} (min_f1={rep['min_f1']:.3f}, min_labels={rep['min_labels']}); "
        f"unmatched labels: {rep['n_unmatched']}{unmatched_reasons(rep)}; skipped label rows: {rep['n_skipped']}"
        + (f" ({skipped})" if skipped else "")
    )


def unmatched_reasons(rep: dict[str, Any]) -> str:
    """`` (older than the oldest log line, 2026-11-30T...: 7214; no prediction for the customer: 3)``, or ""."""
    parts = [
        f"{reason}, {rep['log_oldest_ts']}: {n}" if reason == UNMATCHED_OLDER else f"{reason}: {n}"
        for reason, n in rep.get("unmatched", {}).items()
    ]
    return f" ({'; '.join(parts)})" if parts else ""


def table(rep: dict[str, Any]) -> str:
    """A report as plain text (the ``feedback`` stage's log): each column as wide as its header or widest value."""
    rows = [[MODEL_VERSION, *COLUMNS], *table_rows(rep)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join([row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))])
        for row in rows
    ]
    return "\n".join([*lines, status_line(rep)])


def _bucket(customer_id: str) -> float:
    """A stable number in [0, 1) per customer: the hold-out is a function of the id alone."""
    return int.from_bytes(hashlib.md5(customer_id.encode(), usedforsecurity=False).digest()[:8], "big") / 2**64


def labeled_dataset(frame: pd.DataFrame, window: int, holdout_fraction: float) -> pd.DataFrame:
    """The newest ``window`` joined rows as training data: features, label, id, and ``holdout``.

    A customer is in the hold-out (judging promotion, never trained on) by a hash of its id,
    so the split does not move as more traffic arrives. Features are kept as logged: prepare
    validates them like generated data (bad rows go to quarantine).
    """
    import pandas as pd

    newest = frame.iloc[max(0, len(frame) - window) :]
    out = pd.DataFrame({name: newest[name].astype(object).map(_plain) for name in FEATURE_NAMES})
    for name in FEATURE_NAMES:
        col = out[name]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in col if v is not None):
            out[name] = pd.to_numeric(col).astype("float64")
        else:
            out[name] = col.astype("string")
    out[LABEL] = newest[LABEL].astype("int8").to_numpy()
    out[CUSTOMER_ID] = newest[CUSTOMER_ID].astype("string").to_numpy()
    out[HOLDOUT] = [(_bucket(c) < holdout_fraction) for c in newest[CUSTOMER_ID]]
    return out.reset_index(drop=True)


def _plain(v: Any) -> Any:
    return v if v is None or isinstance(v, int | float | str) else str(v)
