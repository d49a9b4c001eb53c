"""The log scan: the service's own lines take the columnar path, whatever the entry kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from churnops.core import logformat
from churnops.core.trainstats import TrainStats
from churnops.pipeline.generate import traffic_records
from churnops.report import scan as scan_module
from churnops.report.chunks import Chunking
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
