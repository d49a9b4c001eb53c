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
from churnops.report.scan import scan


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
    scanner = scan([service_log(tmp_path / "log.jsonl")], train_stats, Chunking(seconds=3600))
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

    fleet_scan = scan(specs, train_stats, Chunking(seconds=3600))
    assert fleet_scan.position == 800
    assert totals(fleet_scan) == totals(scan([whole], train_stats, Chunking(seconds=3600)))
