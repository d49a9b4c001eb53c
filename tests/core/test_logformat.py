"""The log format module: encode and parse agree, rejections stay small, rotated files are named once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from churnops.core import logformat
from churnops.core.logformat import (
    BatchEntry,
    Invalid,
    Prediction,
    RejectedValue,
    Rejection,
    RejectionEntry,
    RowEntry,
    encode,
    log_files,
    parse_line,
    rotated_path,
)
from churnops.pipeline.generate import traffic_records

FEATURES = {"tenure_months": 3, "num_complaints": 0, "avg_session_minutes": 10.8, "plan": "basic", "region": "west"}


def test_a_prediction_round_trips_through_encode_and_parse() -> None:
    entry = BatchEntry(1_700_000_000.5, "b-1", "m" * 32, [FEATURES, {**FEATURES, "plan": "premium"}],
                       [0.1 + 0.2, 1e-7], [False, False], 1.5)  # fmt: skip
    lines = encode(entry).splitlines()
    parsed = [parse_line(line) for line in lines]
    assert all(isinstance(p, Prediction) for p in parsed)
    assert [p.features for p in parsed] == list(entry.features)  # type: ignore[union-attr]
    assert [p.churn_probability for p in parsed] == [0.1 + 0.2, 1e-7]  # type: ignore[union-attr]
    assert [p.item for p in parsed] == [0, 1]  # type: ignore[union-attr]
    assert {p.ts for p in parsed} == {"2023-11-14T22:13:20.500000Z"}  # type: ignore[union-attr]
    assert logformat.KIND not in orjson.loads(lines[0])  # old readers see predictions unchanged


def test_a_rejection_round_trips_and_names_the_culprits() -> None:
    errors = [RejectedValue("plan", 3, logformat.UNKNOWN_CATEGORY, "enterprise", "items.3.plan"),
              RejectedValue(None, None, logformat.UNKNOWN_KEY, {"a": 1}, "colour")]  # fmt: skip
    line = encode(RejectionEntry(0.0, "r-9", "/predict/batch", errors, 7))
    rec = orjson.loads(line)
    assert rec["kind"] == "rejected" and rec["n_errors"] == 7 and rec["endpoint"] == "/predict/batch"
    assert rec["errors"][0] == {"field": "plan", "item": 3, "reason": "unknown category", "value": "enterprise",
                                "loc": "items.3.plan"}  # fmt: skip
    assert rec["errors"][1]["value"] == "object"
    parsed = parse_line(line)
    assert isinstance(parsed, Rejection)
    assert parsed.n_errors == 7 and parsed.request_id == "r-9"
    assert parsed.errors == (errors[0], errors[1]._replace(value="object"))


@pytest.mark.parametrize(
    "value",
    ["\x00" * 10_000, "é" * 100_000, 10**400, [1] * 10_000, {"k" * 1000: 1}, -1.5e308],
)
def test_a_rejection_line_is_bounded_whatever_the_values(value: object) -> None:
    errors = [RejectedValue("plan", i, logformat.WRONG_TYPE, value, "x" * 10_000) for i in range(1000)]
    line = encode(RejectionEntry(0.0, "r" * 10_000, "/predict", errors, len(errors)))
    assert len(line) < logformat.MAX_REJECTION_BYTES and line.endswith(b"\n") and line.count(b"\n") == 1
    parsed = parse_line(line)
    assert isinstance(parsed, Rejection)
    assert parsed.n_errors == 1000
    assert 1 <= len(parsed.errors) <= logformat.MAX_REJECTION_ERRORS


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\x00\x01\xff", "binary"),
        (b'{"features": {', "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"kind": "something-newer"}', "unknown_kind"),
    ],
)
def test_lines_that_are_no_record_say_why(line: bytes, reason: str) -> None:
    assert parse_line(line) == Invalid(reason)
    assert reason in logformat.INVALID_REASONS


def test_parsing_is_structural_only() -> None:
    # Schema checks are the monitor's: an odd value still parses as a prediction.
    parsed = parse_line(b'{"features": {"plan": "enterprise"}, "churn_probability": "high"}')
    assert isinstance(parsed, Prediction)
    assert parsed.features == {"plan": "enterprise"} and parsed.churn_probability == "high"
    assert parse_line(b'{"features": 3}') == Prediction(None, None, None, None, None, None, None, {"features": 3})


def test_generated_traffic_is_in_the_log_format() -> None:
    for rec in traffic_records(seed=1, rows=50):
        parsed = parse_line(orjson.dumps(rec))
        assert isinstance(parsed, Prediction) and parsed.features == rec["features"]


def test_rotated_files_are_named_and_listed_newest_first(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    assert log_files(log) == []
    for n in (10, 2, 1, 9):
        rotated_path(log, n).write_text("")
    for other in ("p.jsonl.1.gz", "p.jsonl.x", "p.jsonl.0", "q.jsonl.3", "p.jsonl.lock"):
        (tmp_path / other).write_text("")
    log.write_text("")
    assert [p.name for p in log_files(log)] == ["p.jsonl", "p.jsonl.1", "p.jsonl.2", "p.jsonl.9", "p.jsonl.10"]
    assert rotated_path(log, 3) == tmp_path / "p.jsonl.3"


def test_row_entry_encodes_like_a_batch_row() -> None:
    row = orjson.loads(encode(RowEntry(0.0, "a", "v", FEATURES, 0.5, True, 0.1)))
    batch = orjson.loads(encode(BatchEntry(0.0, "a", "v", [FEATURES], [0.5], [True], 0.1)))
    assert {k: v for k, v in batch.items() if k != "item"} == row


@pytest.mark.parametrize("seed", range(3))
def test_a_row_line_is_a_batch_line_byte_for_byte_without_its_item(seed: int) -> None:
    """``/predict`` lines (one dict, one orjson call) and batch lines (templates) are one format."""
    rng = np.random.default_rng(seed)
    records = traffic_records(seed, 300)
    latencies = [0.0, 0.0004, 0.0005, 0.001, 1e-3 * 7, 99_999.9995, *rng.exponential(2.0, 294).tolist()]
    for i, (features, latency) in enumerate(zip(records, latencies, strict=True)):
        ts = float(rng.uniform(0, 4e9))
        p = float(rng.uniform()) if i % 7 else [0.0, 1.0, 5e-324, 1e-17, 0.5, 1 / 3, 0.999999999][i // 7 % 7]
        cid = None if i % 3 else f"c-{i}"
        row = encode(RowEntry(ts, f"r-{i}", "v9", features, p, p >= 0.5, latency, cid))
        ids = None if cid is None else [cid]
        batch = encode(BatchEntry(ts, f"r-{i}", "v9", [features], [p], [p >= 0.5], latency, ids))
        assert batch.replace(b',"item":0', b"", 1) == row, (row, batch)
