"""The log scan: the service's own lines take the columnar path, whatever the entry kind."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from churnops.core import logformat
from churnops.core.trainstats import TrainStats
from churnops.pipeline.generate import traffic_records
from churnops.report import scan as scan_module
from churnops.report.chunks import Chunking, ts_seconds
from churnops.report.scan import scan, segments


def service_log(path: Path, rows: int = 3000) -> Path:
    """Every entry kind the service writes: single rows and batches, with and without customer ids."""
    recs = list(traffic_records(5, rows))
    out: list[bytes] = []
    for i in range(0, rows, 300):
        part = recs[i : i + 300]
        features = [r["features"] for r in part]
        p = [r["churn_probability"] for r in part]
        ids = [r["customer_id"] for r in part]
        ts = 1_790_000_000.0 + i
        for k in range(10):  # /predict: a line each
            cid = ids[k] if k % 2 else None
            out.append(
                logformat.encode(logformat.RowEntry(ts, f"r{i}-{k}", "v1", features[k], p[k], p[k] >= 0.5, 0.2, cid))
            )
        rest = slice(10, None)
        batch_ids = ids[rest] if i % 600 else None  # batches with ids, and without (the fast template)
        decisions = [q >= 0.5 for q in p[rest]]
        out.append(
            logformat.encode(
                logformat.BatchEntry(ts, f"b{i}", "v2", features[rest], p[rest], decisions, 3.0, batch_ids)
            )
        )
    path.write_bytes(b"".join(out))
    return path


def test_the_services_lines_never_fall_back_to_the_line_by_line_parser(
    tmp_path: Path, train_stats: TrainStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow: list[int] = []
    original = scan_module.Scanner._slow

    def counting(self: scan_module.Scanner, lines: Any, *args: Any, **kwargs: Any) -> None:
        slow.append(len(lines))
        original(self, lines, *args, **kwargs)

    monkeypatch.setattr(scan_module.Scanner, "_slow", counting)
    scanner = scan(segments([service_log(tmp_path / "log.jsonl")]), train_stats, Chunking(seconds=3600))
    assert slow == []
    versions = {v: g.lines for groups in scanner.groups.values() for v, g in groups.items()}
    assert versions == {"v1": 100, "v2": 2900}
    assert scanner.position == 3000


def test_a_scan_over_an_s3_archive_and_live_files_equals_one_over_the_concatenated_file(
    tmp_path: Path,
    train_stats: TrainStats,
    s3_endpoint: str,
    s3_bucket: str,
    s3_credentials: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`churnops report --log s3://… --log 'web-*/p.jsonl'` reads the fleet's archive and live files as one log."""
    from tests.commands.test_logs import fleet

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    specs, whole = fleet(tmp_path, s3_bucket, capsys)

    def totals(scanner: scan_module.Scanner) -> dict[tuple[int, str | None], tuple[int, Any, Any, int]]:
        return {
            (key, version): (
                g.lines,
                {k: round(v, 6) for k, v in g.num_sum.items()},
                {k: v.tolist() for k, v in g.cats.items()},
                g.p_n,
            )
            for key, groups in scanner.groups.items()
            for version, g in groups.items()
        }

    fleet_scan = scan(segments(specs), train_stats, Chunking(seconds=3600))
    assert fleet_scan.position == 800
    assert totals(fleet_scan) == totals(scan(segments([whole]), train_stats, Chunking(seconds=3600)))


def group_totals(scanner: scan_module.Scanner) -> dict[tuple[int, str | None], Any]:
    """Everything a group holds, floats rounded (blocks may add them in another order)."""
    return {
        (key, version): (
            g.lines,
            dict(g.reasons),
            {name: round(v, 6) for name, v in g.num_sum.items()},
            {name: v.tolist() for name, v in g.cats.items()},
            (g.p_n, round(g.p_sum, 6), g.no_probability, g.expected.pos_n, g.expected.neg_n),
            (g.ts_min, g.ts_max, g.first_line),
        )
        for key, groups in scanner.groups.items()
        for version, g in groups.items()
    }


@pytest.mark.parametrize("block", [97, 1000, 4096])
def test_the_block_size_does_not_change_what_is_read(
    tmp_path: Path, train_stats: TrainStats, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Lines cut across reads, a line longer than the limit spanning several reads, a blank line,
    an odd line and an unterminated last line: the same groups as one big block."""
    lines = service_log(tmp_path / "service.jsonl", rows=600).read_bytes().splitlines(keepends=True)
    log = tmp_path / "log.jsonl"
    log.write_bytes(
        b"".join(lines[:200]) + b'{"ts":"' + b"x" * 5000 + b'"}\n' + b"\n" + b"not json\n" + b"".join(lines[200:])
        + b'{"ts":"cut'
    )  # fmt: skip
    monkeypatch.setattr(scan_module, "MAX_LINE_BYTES", 2000)
    whole = scan(segments([log]), train_stats, Chunking(seconds=3600))
    monkeypatch.setattr(scan_module, "BLOCK_BYTES", block)
    blocks = scan(segments([log]), train_stats, Chunking(seconds=3600))
    assert (blocks.position, blocks.counted) == (whole.position, whole.counted) == (604, 603)
    assert group_totals(blocks) == group_totals(whole)
    reasons: dict[str, int] = {}
    for groups in blocks.groups.values():
        for g in groups.values():
            for reason, n in g.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
    assert reasons == {"too_long": 1, "invalid_json": 1, "partial": 1}


@pytest.mark.parametrize(
    "bad_ts", ["2026-02-30T10:00:00.000000Z", "2026-02-28T23:59:60.000000Z", "2026-02-28T10:00:00.00000xZ"]
)
def test_an_impossible_time_stamp_is_undated_as_the_monitor_reads_it(
    tmp_path: Path, train_stats: TrainStats, bad_ts: str
) -> None:
    """pyarrow's strptime rolls 02-30 over to 03-02; the scan must not date a line the monitor cannot."""
    from churnops.monitor.records import parse_line
    from churnops.report.chunks import UNDATED, ts_seconds

    log = service_log(tmp_path / "log.jsonl", rows=600)
    lines = log.read_bytes().splitlines(keepends=True)
    good_ts = parse_line(lines[0]).ts  # type: ignore[union-attr]
    lines[0] = lines[0].replace(good_ts.encode(), bad_ts.encode())
    log.write_bytes(b"".join(lines))
    assert ts_seconds(bad_ts) is None
    scanner = scan(segments([log]), train_stats, Chunking(seconds=3600))
    assert sum(g.lines for g in scanner.groups.get(UNDATED, {}).values()) == 1
    assert scanner.position == 600


def everything(scanner: scan_module.Scanner) -> dict[tuple[int, str | None], Any]:
    """All a group holds, sums rounded (the two paths add the same values in other orders)."""
    return {
        (key, version): (
            g.lines,
            dict(g.reasons),
            {name: dict(c) for name, c in g.problems.items()},
            {name: dict(c) for name, c in g.unseen.items()},
            dict(g.rejected),
            (g.no_probability, g.blank_lines),
            dict(g.num_n),
            {name: round(v, 6) for name, v in g.num_sum.items()},
            {name: v.tolist() for name, v in g.bins.items()},
            {name: v.tolist() for name, v in g.cats.items()},
            (g.p_n, round(g.p_sum, 6)),
            (g.expected.pos_n, g.expected.neg_n, round(g.expected.pos_p, 6), round(g.expected.neg_p2, 6)),
            (g.ts_min, g.ts_max, g.first_line),
        )
        for key, groups in scanner.groups.items()
        for version, g in groups.items()
    }


def odd_lines(line: bytes) -> list[bytes]:
    """Lines the service does not write, made from one it does: each must get the monitor's verdict."""
    obj = orjson.loads(line)
    f = obj["features"]

    def with_(**changes: Any) -> bytes:
        return orjson.dumps({**obj, **changes})

    def feature(**changes: Any) -> bytes:
        return with_(features={**f, **changes})

    rest = line[1:]  # '"ts":...}' : a key put before it is read first (and a duplicate loses)
    return [
        *(feature(tenure_months=v) for v in ("5", None, True, 5.5, 5.0, 999, -1, 2**64 - 1)),
        feature(tenure_months=123_456_789).replace(b"123456789", b"1" + b"0" * 30),
        feature(tenure_months=123_456_789).replace(b"123456789", b"1" + b"0" * 400),
        feature(avg_session_minutes=123_456_789).replace(b"123456789", b"1e400"),
        *(feature(plan=v) for v in ("enterprise", 3, None, "")),
        orjson.dumps({**obj, "features": {k: v for k, v in f.items() if k != "region"}}),
        feature(extra=1),
        *(with_(features=v) for v in (None, [1, 2], "x", {})),
        orjson.dumps({k: v for k, v in obj.items() if k != "features"}),
        *(with_(churn_probability=v) for v in ("0.5", None, 1, 0, 1.5, -0.1, True, 2**64 - 1)),
        with_(churn_probability=123_456_789).replace(b"123456789", b"1" + b"0" * 30),
        with_(churn_probability=123_456_789).replace(b"123456789", b"1e-400"),
        *(with_(churn=v) for v in (1, None, "yes")),
        orjson.dumps({k: v for k, v in obj.items() if k != "ts"}),
        *(
            with_(ts=v)
            for v in (
                5,
                None,
                "2026-12-07 19:49:56",
                "2026-12-07T19:49:56+02:00",
                "2026-12-07T19:49:56.552211",
                "2026-02-30T10:00:00.000000Z",
                "2024-02-29T23:59:59.999999Z",
                "2023-02-29T23:59:59.999999Z",
                "1969-12-31T23:59:59.999999Z",
                "2300-01-01T00:00:00.000000Z",
                "2026-12-07T24:00:00.000000Z",
                "2026-12-07T19:49:60.000000Z",
                "２０２６-12-07T19:49:56.552211Z",
                "2026-12-07T19:49:56.552211z",
            )
        ),
        *(with_(model_version=v) for v in (7, None, "vé", "v-other")),
        *(with_(kind=v) for v in ("rejected", None, "future", 3)),
        *(with_(**{k: v}) for k, v in (("unknown", 1), ("request_id", 5), ("item", 1.5), ("item", True))),
        *(with_(**{k: v}) for k, v in (("latency_ms", "x"), ("source", "simulated"), ("customer_id", None))),
        logformat.encode_rejection(
            logformat.RejectionEntry(
                1_790_000_000.5,
                "r-x",
                "/predict",
                [logformat.RejectedValue("plan", None, "unknown category", "x", "")],
                1,
            )
        ).rstrip(b"\n"),
        b'{"x":1e400,' + rest,
        b'{"request_id":1e400,' + rest,
        b'{"errors":[1e400],' + rest,
        b'{"item":1' + b"0" * 400 + b"," + rest,
        b'{"x":"\xff",' + rest,
        b'{"request_id":"\xff",' + rest,
        b'{"request_id":"\\ud800",' + rest,
        b'{"request_id":"\\ud83d\\ude00",' + rest,
        b'{"features":{"plan":"basic"},' + rest,
        b'{"kind":"rejected",' + line[1:-1] + b',"kind":null}',
        b'{"model_version":"first",' + rest,
        b'{"churn_probability":NaN,' + rest,
        b'{"t\\u0073":"2026-12-07T19:49:56.552211Z",' + rest,
        line + line,
        line + b" " + line,
        line[:100] + b"\n" + line[100:],
        b"",
        b"   ",
        line + b"\r",
        b" " + line,
        b"[1,2]",
        b'"text"',
        b"null",
        b"{}",
        b'{"a":1}',
        b"\x00\x01binary",
        b"not json",
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_odd_lines_get_the_same_groups_as_the_monitors_line_by_line_reading(
    tmp_path: Path, train_stats: TrainStats, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Service lines mixed at random with every kind of odd line, in blocks small and large: the
    decoded path and the monitor's own per-line reading (``parse_line`` on every line) agree."""
    rng = random.Random(seed)
    lines = service_log(tmp_path / "service.jsonl", rows=1200).read_bytes().splitlines()
    odd = odd_lines(lines[0])
    for line in odd * 2:
        lines.insert(rng.randrange(len(lines) + 1), line)
    torn = rng.choice([lines[5][:50], lines[5], b""])  # a torn last line, a whole one unterminated, none
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(line + b"\n" for line in lines) + torn)
    decoded: list[int] = []
    columns = scan_module.Scanner._columns

    def line_by_line(self: scan_module.Scanner, block: memoryview, starts: Any, ends: Any) -> None:
        self._lines(block, starts, ends)

    def counting(self: scan_module.Scanner, records: list[Any], *args: Any) -> None:
        decoded.append(len(records))
        columns(self, records, *args)

    monkeypatch.setattr(scan_module.Scanner, "_columns", counting)
    monkeypatch.setattr(scan_module, "BLOCK_BYTES", rng.choice([3000, 20_000, 1 << 20]))
    monkeypatch.setattr(scan_module, "LEAF_LINES", rng.choice([1, 4, 64]))
    for chunking in (Chunking(seconds=3600), Chunking(lines=500)):
        fast = scan(segments([log]), train_stats, chunking)
        with monkeypatch.context() as m:
            m.setattr(scan_module.Scanner, "_records", line_by_line)
            slow = scan(segments([log]), train_stats, chunking)
        assert (fast.position, fast.counted) == (slow.position, slow.counted)
        assert everything(fast) == everything(slow)
    assert sum(decoded) > len(lines) * 1.5  # most lines took the decoded path (twice: two chunkings)


def test_the_stamp_reader_agrees_with_the_monitors_on_every_form() -> None:
    """Stamps in the service's form are read in bulk; real days only, the others as ``ts_seconds`` reads them."""
    rng = random.Random(7)
    stamps: list[str | None] = [None, "", "2026-12-07", "2026-12-07T19:49:56Z", "2026-12-07T19:49:56.552211+00:00"]
    for _ in range(20_000):
        y = rng.choice([1, 1600, 1900, 1969, 1970, 2000, 2024, 2025, 2100, 2199, 2200, 9999])
        mo, d, h = rng.randint(0, 13), rng.randint(0, 32), rng.randint(0, 25)
        mi, s, us = rng.randint(0, 61), rng.randint(0, 61), rng.randint(0, 999_999)
        stamps.append(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{us:06d}Z")
    stamps = [s for s in stamps for _ in range(rng.choice([1, 1, 3]))]  # runs of one stamp, as a batch writes
    want = [ts_seconds(s) for s in stamps]
    for batch in (stamps, stamps[5:]):  # with and without stamps of other forms among them
        got = scan_module._seconds(batch)
        expected = np.array([np.nan if w is None else w for w in want[len(stamps) - len(batch) :]])
        assert np.array_equal(got, expected, equal_nan=True)
    assert sum(w is not None for w in want) > 15_000
