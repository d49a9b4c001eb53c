"""The prediction-log format: record kinds, their keys, encoding, parsing, and file naming.

This module is the one owner of the log format. The service writes it
(:mod:`churnops.service.logwriter`), ``generate`` writes simulated traffic in it, and the
monitor reads it (:mod:`churnops.monitor.tail`, :mod:`churnops.monitor.records`).

One JSON object per line, of one of two kinds::

    # a prediction (no "kind" key, so logs written before rejections existed stay valid)
    {"ts": "2024-05-01T12:00:00.123456Z", "request_id": "...", "model_version": "<md5>",
     "item": 3,                      # batch rows only: the row's index in the request
     "customer_id": "c-1042",        # only when the caller sent one (never a feature)
     "features": {...five fields...}, "churn_probability": 0.83, "churn": true, "latency_ms": 0.41}

    # a request the API refused with 422 (one line per request, whatever its size)
    {"ts": "...Z", "request_id": "...", "kind": "rejected", "endpoint": "/predict/batch",
     "n_errors": 3, "errors": [{"field": "plan", "item": 3, "reason": "unknown category",
                                "value": "enterprise", "loc": "items.3.plan"}, ...]}

In a rejection, ``field`` is a schema feature name or null (an unknown key, a missing
or non-object body), ``item`` the batch index or null, ``reason`` one of
:data:`REJECTION_REASONS`, ``value`` the offending JSON value made small (strings cut to
:data:`MAX_VALUE_CHARS` characters, objects and arrays replaced by their type name,
integers beyond 64 bits by their text), and ``loc`` the dotted location, cut the same
way. At most :data:`MAX_REJECTION_ERRORS` entries are kept, ``n_errors`` counts them all,
and the line is always shorter than :data:`MAX_REJECTION_BYTES`.

Rotation: ``X`` is the live file, ``X.1`` the newest rotated one (:func:`log_files`).
Parsing is structural only; whether values fit the schema is the monitor's business.

Length: the whole log format, encode and parse and rotation names, kept in one file
on purpose: the writer and the monitor cannot drift apart if one module owns both directions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from pathlib import Path
from typing import Any, NamedTuple

import orjson

TS = "ts"
REQUEST_ID = "request_id"
MODEL_VERSION = "model_version"
ITEM = "item"
FEATURES = "features"
PROBABILITY = "churn_probability"
CHURN = "churn"
LATENCY_MS = "latency_ms"
SOURCE = "source"
"""Optional provenance of a prediction record (``"simulated"`` for generated traffic)."""
CUSTOMER_ID = "customer_id"
"""Optional caller's identifier of the customer, echoed and logged, never a model feature:
it is what delayed churn labels are joined on (:mod:`churnops.pipeline.labeljoin`)."""
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
"""What a ``customer_id`` may be: the API refuses, and the label join skips, any other."""

KIND = "kind"
KIND_REJECTED = "rejected"
ENDPOINT = "endpoint"
N_ERRORS = "n_errors"
ERRORS = "errors"
# keys of one entry of a rejection's "errors"
FIELD = "field"
REASON = "reason"
VALUE = "value"
LOC = "loc"

# The reasons a rejection entry gives: short, stable texts the monitor can count.
UNKNOWN_CATEGORY = "unknown category"
OUT_OF_RANGE = "out of range"
WRONG_TYPE = "wrong type"
MISSING = "missing"
UNKNOWN_KEY = "unknown key"
NOT_AN_OBJECT = "not an object"
BATCH_SIZE = "batch size"
INVALID = "invalid"
REJECTION_REASONS = (
    UNKNOWN_CATEGORY, OUT_OF_RANGE, WRONG_TYPE, MISSING, UNKNOWN_KEY, NOT_AN_OBJECT, BATCH_SIZE, INVALID,
)  # fmt: skip

MAX_REJECTION_ERRORS = 20
"""Part of the line's size bound; independent of ``churnops.service.http_errors.MAX_ERRORS``, so a
line's size does not follow the API's choice (simulated traffic has no API)."""
MAX_VALUE_CHARS = 64
MAX_REJECTION_BYTES = 4096

INVALID_REASONS = ("binary", "invalid_json", "not_an_object", "unknown_kind")


class RowEntry(NamedTuple):
    """One /predict call, as captured on the request path (no formatting yet)."""

    ts: float
    request_id: str
    model_version: str
    features: Mapping[str, Any]
    churn_probability: float
    churn: bool
    latency_ms: float
    customer_id: str | None = None


class BatchEntry(NamedTuple):
    """One /predict/batch call: one log line per row, sharing ``request_id``."""

    ts: float
    request_id: str
    model_version: str
    features: Sequence[Mapping[str, Any]]
    churn_probability: Sequence[float]
    churn: Sequence[bool]
    latency_ms: float
    customer_id: Sequence[str | None] | None = None  # None when no row sent one


class RejectedValue(NamedTuple):
    """One reason a request was refused, in log terms (the service maps pydantic's errors to these)."""

    field: str | None
    item: int | None
    reason: str
    value: Any
    loc: str


class RejectionEntry(NamedTuple):
    """One request refused with 422: its first errors and how many there were in all."""

    ts: float
    request_id: str
    endpoint: str
    errors: Sequence[RejectedValue]
    n_errors: int


Entry = RowEntry | BatchEntry | RejectionEntry


def entry_lines(entry: Entry) -> int:
    """How many log lines ``entry`` becomes."""
    return len(entry.features) if isinstance(entry, BatchEntry) else 1


_last: tuple[int, str] = (-1, "")


def rfc3339(ts: float) -> str:
    """``2023-11-14T22:13:20.250000Z``: RFC 3339, UTC, microseconds.

    The whole-second prefix is cached: the log formats thousands of stamps per second.
    """
    global _last
    us = round(ts * 1_000_000)
    sec, frac = divmod(us, 1_000_000)
    cached_sec, prefix = _last
    if sec != cached_sec:
        prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last = (sec, prefix)
    return f"{prefix}.{frac:06d}Z"


def small_value(value: Any) -> Any:
    """``value`` as a JSON value of bounded size (strings cut, containers named)."""
    if value is None or type(value) is bool or type(value) is float:
        return value
    if type(value) is int:
        return value if -(2**63) <= value < 2**64 else _cut(str(value))
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return _cut(str(value))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def encode(entry: Entry) -> bytes:
    """The JSON lines for one entry, from byte templates: a batch's shared fields are encoded once.

    Floats go through orjson too: ``repr`` cost more than everything else in a 10,000-row batch.
    """
    if isinstance(entry, RejectionEntry):
        return encode_rejection(entry)
    if isinstance(entry, RowEntry):
        return _encode_row(entry)
    dumps = orjson.dumps
    head = b'{"ts":%s,"request_id":%s,"model_version":%s' % (
        dumps(rfc3339(entry.ts)),
        dumps(entry.request_id),
        dumps(entry.model_version),
    )
    tail = b',"latency_ms":%s}\n' % repr(round(entry.latency_ms, 3)).encode()
    if entry.customer_id is None:  # the common case: no ids, the fast encoder
        fast = _encode_batch(entry, head, tail)
        if fast is not None:
            return fast
    ids = entry.customer_id or [None] * len(entry.features)
    return b"".join(
        b'%s,"item":%d%s,"features":%s,"churn_probability":%s,"churn":%s%s'
        % (head, i, _customer(cid), dumps(f), dumps(float(p)), b"true" if c else b"false", tail)
        for i, (f, p, c, cid) in enumerate(zip(entry.features, entry.churn_probability, entry.churn, ids, strict=True))
    )


def _encode_row(entry: RowEntry) -> bytes:
    """A ``/predict`` line: one dict, ~1.5x cheaper than the templates; the same bytes as a batch row.

    ``latency_ms`` rounded to 3 decimals is 0.0 or >= 0.001, where orjson and ``repr`` agree.
    """
    doc: dict[str, Any] = {TS: rfc3339(entry.ts), REQUEST_ID: entry.request_id, MODEL_VERSION: entry.model_version}
    if entry.customer_id is not None:
        doc[CUSTOMER_ID] = entry.customer_id
    doc[FEATURES] = entry.features
    doc[PROBABILITY] = float(entry.churn_probability)
    doc[CHURN] = bool(entry.churn)
    doc[LATENCY_MS] = round(float(entry.latency_ms), 3)
    return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


def _customer(customer_id: str | None) -> bytes:
    return b"" if customer_id is None else b',"customer_id":%s' % orjson.dumps(customer_id)


_item_openers: list[bytes] = []  # b'0,"features":{', b'1,"features":{', ...: grown on demand, shared by every batch


def _encode_batch(entry: BatchEntry, head: bytes, tail: bytes) -> bytes | None:
    """A batch's lines, the same bytes as the per-row template, ~4x faster; None if it cannot tell.

    Features and probabilities are each dumped once, cut at their separators and joined with
    the shared bytes. A separator inside a value (a category holding ``},{``) gives more pieces
    than rows: None, and the caller encodes row by row.
    """
    global _item_openers
    n = len(entry.features)
    if n == 0 or len(entry.churn_probability) != n or len(entry.churn) != n:
        return None
    features = orjson.dumps(entry.features)[2:-2].split(b"},{")
    probs = orjson.dumps(entry.churn_probability, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    if len(features) != n or len(probs) != n:
        return None
    if len(_item_openers) < n:
        _item_openers = [b'%d,"features":{' % i for i in range(max(n, 2 * len(_item_openers)))]
    yes, no = b',"churn":true' + tail, b',"churn":false' + tail
    pieces = zip(
        repeat(head + b',"item":'),
        _item_openers,
        features,
        repeat(b'},"churn_probability":'),
        probs,
        [yes if c else no for c in entry.churn],
        strict=False,  # the repeats are endless and _item_openers may be longer: the rows set the length
    )
    return b"".join(chain.from_iterable(pieces))


def encode_rejection(entry: RejectionEntry) -> bytes:
    """One bounded line for a refused request (see the module docstring)."""
    errors = [
        {FIELD: e.field, ITEM: e.item, REASON: e.reason, VALUE: small_value(e.value), LOC: _cut(e.loc)}
        for e in entry.errors[:MAX_REJECTION_ERRORS]
    ]
    doc = {
        TS: rfc3339(entry.ts),
        REQUEST_ID: _cut(entry.request_id),
        KIND: KIND_REJECTED,
        ENDPOINT: _cut(entry.endpoint),
        N_ERRORS: max(entry.n_errors, len(errors)),
        ERRORS: errors,
    }
    line = orjson.dumps(doc) + b"\n"
    # Escaping can make a 64-character string six times longer (\u0000): drop entries
    # from the end until the line fits. n_errors still says how many there were.
    while len(line) >= MAX_REJECTION_BYTES and errors:
        errors.pop()
        line = orjson.dumps(doc) + b"\n"
    return line


@dataclass(frozen=True, slots=True)
class Prediction:
    """A prediction line. Fields are as found (not checked against the schema); absent ones are None."""

    features: dict[str, Any] | None
    churn_probability: Any
    ts: str | None
    model_version: str | None
    request_id: str | None
    item: int | None
    churn: Any
    raw: dict[str, Any]
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A rejection line. Malformed entries of ``errors`` are left out; ``n_errors`` is as logged."""

    errors: tuple[RejectedValue, ...]
    n_errors: int
    ts: str | None
    request_id: str | None
    endpoint: str | None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line that is not a record; ``reason`` is one of :data:`INVALID_REASONS`."""

    reason: str


LogLine = Prediction | Rejection | Invalid


def _str_or_none(v: Any) -> str | None:
    return v if type(v) is str else None


def _int_or_none(v: Any) -> int | None:
    return v if type(v) is int else None


def prediction_object(line: bytes) -> dict[str, Any] | None:
    """The object of a line :func:`parse_line` reads as a :class:`Prediction` (its ``raw``), else None.

    For readers that need a few fields of many lines: no record is built.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return obj if type(obj) is dict and obj.get(KIND) is None else None


def parse_line(line: bytes) -> LogLine:
    """Classify one log line (with or without its newline) by structure only."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return Invalid("binary")
        return Invalid("binary" if "\x00" in text else "invalid_json")
    if type(obj) is not dict:
        return Invalid("not_an_object")
    kind = obj.get(KIND)
    if kind is None:
        features = obj.get(FEATURES)
        return Prediction(
            features=features if type(features) is dict else None,
            churn_probability=obj.get(PROBABILITY),
            ts=_str_or_none(obj.get(TS)),
            model_version=_str_or_none(obj.get(MODEL_VERSION)),
            request_id=_str_or_none(obj.get(REQUEST_ID)),
            item=_int_or_none(obj.get(ITEM)),
            churn=obj.get(CHURN),
            raw=obj,
            customer_id=_str_or_none(obj.get(CUSTOMER_ID)),
        )
    if kind == KIND_REJECTED:
        entries = obj.get(ERRORS)
        errors = tuple(
            RejectedValue(
                _str_or_none(e.get(FIELD)),
                _int_or_none(e.get(ITEM)),
                str(e.get(REASON)) if type(e.get(REASON)) is str else INVALID,
                e.get(VALUE),
                str(e.get(LOC)) if type(e.get(LOC)) is str else "",
            )
            for e in (entries if type(entries) is list else ())
            if type(e) is dict
        )
        n = obj.get(N_ERRORS)
        return Rejection(
            errors=errors,
            n_errors=n if type(n) is int and n >= len(errors) else len(errors),
            ts=_str_or_none(obj.get(TS)),
            request_id=_str_or_none(obj.get(REQUEST_ID)),
            endpoint=_str_or_none(obj.get(ENDPOINT)),
        )
    return Invalid("unknown_kind")  # a kind from a newer writer: not a prediction


def rotated_path(path: str | Path, n: int) -> Path:
    """The ``n``-th rotated file of the log at ``path`` (``X.1`` is the newest)."""
    path = Path(path)
    return path.with_name(f"{path.name}.{n}")


def rotated_numbers(path: str | Path) -> list[int]:
    """The numbers ``n`` of the rotated files ``X.n`` that exist beside ``path``, ascending."""
    path = Path(path)
    pattern = re.compile(re.escape(path.name) + r"\.([1-9][0-9]*)")
    try:
        siblings: Iterable[Path] = list(path.parent.iterdir()) if path.parent.is_dir() else []
    except OSError:
        siblings = []
    return sorted(int(m.group(1)) for p in siblings if (m := pattern.fullmatch(p.name)))


def log_files(path: str | Path) -> list[Path]:
    """The files of a log, NEWEST FIRST: ``X`` (if present), then ``X.1``, ``X.2``, ... (``X.1.gz`` is not)."""
    path = Path(path)
    files = [path] if path.exists() or path.is_symlink() else []
    return files + [rotated_path(path, n) for n in rotated_numbers(path)]
