"""`churnops logs ship`'s exit codes, and `feedback`/`monitor` reading archive + live files as one log."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from churnops.cli import main
from churnops.commands.common import FAILURE, OK, USAGE
from churnops.core.logformat import log_files
from tests.utils.project import fixture_params
from tests.utils.rotated import lines, write_rotated


@pytest.fixture
def bucket(s3_endpoint: str, s3_bucket: str, s3_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)  # DVC's endpointurl, as boto3 reads it
    return s3_bucket


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "params.yaml").write_text(fixture_params())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ship_exit_codes(capsys, cwd: Path, bucket: str) -> None:
    write_rotated(cwd / "p.jsonl", lines(80))
    code, out, _ = run(capsys, "logs", "ship", "--log", "p.jsonl", "--to", f"s3://{bucket}/a", "--keep", "1")
    assert code == OK and out.startswith("p.jsonl: shipped ") and f"s3://{bucket}/a" in out
    before = [p.read_bytes() for p in log_files(cwd / "p.jsonl")]
    write_rotated(cwd / "p.jsonl", lines(80, start=80))
    before = [p.read_bytes() for p in log_files(cwd / "p.jsonl")]
    code, out, err = run(capsys, "logs", "ship", "--log", "p.jsonl", "--to", f"s3://{bucket}-gone/a")
    assert (code, out) == (
        FAILURE,
        "",
    ) and err.strip() == f"churnops logs: s3://{bucket}-gone/a: bucket {bucket}-gone does not exist"
    assert [p.read_bytes() for p in log_files(cwd / "p.jsonl")] == before
    code, out, err = run(capsys, "logs", "ship", "--log", "p.jsonl", "--log", "typo.jsonl", "--to", "d")
    assert (code, out) == (USAGE, "") and err.strip() == (
        "churnops logs: --log typo.jsonl: no such log (nor rotated typo.jsonl.1, .2, ...)"
    )
    assert not (cwd / "d").exists()  # checked before anything was shipped
    code, _, err = run(capsys, "logs", "ship", "--log", "p.jsonl", "--to", "d", "--keep", "-1")
    assert code == USAGE and "--keep" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "logs", "ship", "--log", "p.jsonl", "--to", "s3://")
    assert code == USAGE and err.strip() == "churnops logs: --to s3://: no bucket in the URL (s3://bucket/prefix)"


def fleet(root: Path, bucket: str, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], Path]:
    """Two replicas that shipped to one bucket and kept one rotated file each; and the same rows in one file."""
    concatenated = []
    for i, host in enumerate(("web-1", "web-2")):
        data = lines(400, start=1000 * i, seed=i, customers=150)
        write_rotated(root / host / "p.jsonl", data)
        code, _, _ = run(capsys, "logs", "ship", "--log", str(root / host / "p.jsonl"), "--to", f"s3://{bucket}/m",
                         "--keep", "1", "--host", host)  # fmt: skip
        assert code == OK
        concatenated += data
    assert len(log_files(root / "web-1" / "p.jsonl")) == 2  # most of each log is now only in the bucket
    (root / "all.jsonl").write_bytes(b"".join(concatenated))
    return [f"s3://{bucket}/m", str(root / "*" / "p.jsonl")], root / "all.jsonl"


def close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
    return bool(a == b)


def test_feedback_over_archive_and_live_files_equals_one_concatenated_file(capsys, cwd: Path, bucket: str) -> None:
    specs, whole = fleet(cwd, bucket, capsys)
    (cwd / "labels.csv").write_text("customer_id,churn\n" + "".join(f"c{i},{i % 3 == 0:d}\n" for i in range(0, 160)))
    argv = ["feedback", "--labels", "labels.csv", "--min-labels", "1"]
    assert run(capsys, *argv, *[a for s in specs for a in ("--log", s)], "--out", "fleet.json")[0] == OK
    assert run(capsys, *argv, "--log", str(whole), "--out", "whole.json")[0] == OK
    fleet_report, whole_report = (json.loads((cwd / n).read_text()) for n in ("fleet.json", "whole.json"))
    assert fleet_report["n_labeled"] == 150 and fleet_report["n_unmatched"] == 10
    assert close(fleet_report, whole_report), (fleet_report, whole_report)


def test_monitor_over_archive_and_live_files_equals_one_concatenated_file(
    capsys, cwd: Path, bucket: str, stats_file: Path
) -> None:
    specs, whole = fleet(cwd, bucket, capsys)
    stats = stats_file
    argv = ["monitor", "--stats", str(stats), "--last-n", "600", "--params", "params.yaml"]
    assert run(capsys, *argv, *[a for s in specs for a in ("--log", s)], "--out", "fleet.json")[0] == OK
    assert run(capsys, *argv, "--log", str(whole), "--out", "whole.json")[0] == OK
    fleet_report, whole_report = (json.loads((cwd / n).read_text()) for n in ("fleet.json", "whole.json"))
    assert close(fleet_report, whole_report)
