"""The batch fast paths give the same answers as the slow, obviously right ones.

``batch_fast`` (columnar validation) must accept only what the full validator
accepts, and return the same items, with columns that hold the items' values; the batch
log encoder must write the same bytes as the per-row template.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from churnops.core.logformat import BatchEntry, RowEntry, encode
from churnops.core.schema import FEATURES, NumericFeature
from churnops.service.schemas import BATCH, batch_fast


def _valid_row(rng: random.Random) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for f in FEATURES:
        if isinstance(f, NumericFeature):
            if f.integer:
                row[f.name] = rng.choice([int(f.low), int(f.high), rng.randint(int(f.low), int(f.high))])
            else:
                row[f.name] = rng.choice([f.low, f.high, rng.uniform(f.low, f.high), int(f.high)])
        else:
            row[f.name] = rng.choice(f.categories)
    return row


_BAD_VALUES = [None, True, False, "1", "", -1, -0.5, 1e9, 10**30, 2.5, 3.0, [], {}, "basic ", "BASIC", [1]]


def _mutations(rng: random.Random, rows: list[dict[str, Any]]) -> list[Any]:
    """Bodies (as Python values) that break one rule each, somewhere in the batch."""
    out: list[Any] = []
    i = rng.randrange(len(rows))
    name = rng.choice(FEATURES).name
    for value in _BAD_VALUES:
        bad = [dict(r) for r in rows]
        bad[i][name] = value
        out.append({"items": bad})
        every = [{**r, name: value} for r in rows]  # a whole column of it (e.g. every value is [1])
        out.append({"items": every})
    missing = [dict(r) for r in rows]
    del missing[i][name]
    out.append({"items": missing})
    extra = [dict(r) for r in rows]
    extra[i]["unknown"] = 1
    out.append({"items": extra})
    swapped = [dict(r) for r in rows]
    del swapped[i][name]
    swapped[i]["unknown"] = 1  # right count of keys, wrong names
    out.append({"items": swapped})
    out += [{"items": []}, {"items": rows, "more": 1}, {"items": [*rows, 5]}, {"items": [*rows, None]}, rows, {}]
    return out


def _slow(body: bytes) -> list[dict[str, Any]] | None:
    try:
        return BATCH.validate_json(body)["items"]
    except ValidationError:
        return None


@pytest.mark.parametrize("seed", range(8))
def test_columnar_validation_agrees_with_the_validator(seed: int) -> None:
    rng = random.Random(seed)
    rows = [_valid_row(rng) for _ in range(rng.randint(1, 40))]
    bodies = [orjson.dumps({"items": rows}), json.dumps({"items": rows}, indent=1).encode()]
    bodies += [json.dumps(doc).encode() for doc in _mutations(rng, rows)]
    bodies += [b"not json", b'{"items": [NaN]}', b'{"items": [{"tenure_months": 1e999}]}']
    accepted = 0
    for body in bodies:
        batch, slow = batch_fast(body), _slow(body)
        if batch is not None:
            fast = batch.items
            accepted += 1
            # The columns the scorer reads are the items' values, of the same types.
            assert batch.columns is not None
            assert list(batch.columns) == [f.name for f in FEATURES]
            for f in FEATURES:
                column = batch.columns[f.name]
                if isinstance(f, NumericFeature):
                    assert column.dtype == (np.int64 if f.integer else np.float64)
                    column = column.tolist()
                assert column == [r[f.name] for r in fast]
            assert fast == slow, body[:200]
            # Same types too (20 -> 20.0 for a float feature), so the log writes the same bytes.
            assert [{k: type(v) for k, v in r.items()} for r in fast] == [
                {k: type(v) for k, v in r.items()} for r in slow or []
            ]
    assert accepted >= 2  # the valid bodies took the fast path


def test_integer_given_as_whole_float_is_left_to_the_validator() -> None:
    row = _valid_row(random.Random(0))
    name = next(f.name for f in FEATURES if isinstance(f, NumericFeature) and f.integer)
    body = orjson.dumps({"items": [{**row, name: float(row[name])}]})
    assert batch_fast(body) is None
    assert _slow(body) == [{**row, name: int(row[name])}]


def test_batch_log_lines_are_the_per_row_template() -> None:
    rng = random.Random(3)
    rows = [_valid_row(rng) for _ in range(50)]
    probs = [rng.random() ** rng.randint(1, 40) for _ in rows]  # tiny ones print with exponents
    churn = [p >= 0.5 for p in probs]
    entry = BatchEntry(1.5, "r-1", "v", rows, probs, churn, 2.25)
    batch = encode(entry)
    # Byte for byte: a list of absent ids takes the per-row template (the format's reference).
    assert batch == encode(entry._replace(customer_id=[None] * len(rows)))
    lines = batch.splitlines(keepends=True)
    assert len(lines) == len(rows)
    for i, (r, p, c) in enumerate(zip(rows, probs, churn, strict=True)):
        one = orjson.loads(encode(RowEntry(1.5, "r-1", "v", r, p, c, 2.25)))
        assert orjson.loads(lines[i]) == {**one, "item": i}


def test_batch_log_with_separators_inside_values_falls_back_intact() -> None:
    features = [{"a": "},{"}, {"b": [{"c": 1}, {"d": 2}]}, {}]
    lines = encode(BatchEntry(0.0, "r", "v", features, [0.1, 0.2, 0.3], [False, False, False], 1.0)).splitlines()
    assert [orjson.loads(line)["features"] for line in lines] == features
