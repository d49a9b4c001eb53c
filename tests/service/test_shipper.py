"""Shipping rotated log files: confirmed before deleted, idempotent, one line on failure, kill-safe."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from churnops.core.archive import NAME, DirArchive, S3Archive, open_archive
from churnops.core.errors import ArchiveError
from churnops.core.logformat import log_files
from churnops.service.shipper import ArchiveShipper, ship
from tests.utils.rotated import archived_dir, archived_s3, keys, lines, write_rotated
from tests.utils.s3server import client, enforced_auth


@pytest.fixture
def s3(
    s3_endpoint: str, s3_bucket: str, s3_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[object, str]:
    """A fresh bucket on the session's server, and a client; the environment points boto3 at it
    the way DVC's ``endpointurl`` would (``AWS_ENDPOINT_URL_S3``)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    return client(s3_endpoint), s3_bucket


def local_lines(log: Path) -> bytes:
    return b"".join(p.read_bytes() for p in reversed(log_files(log)))


def test_ships_to_a_directory_then_keeps_only_the_newest_shipped(tmp_path: Path) -> None:
    log, dest = tmp_path / "logs" / "p.jsonl", tmp_path / "archive"
    data = lines(300)
    write_rotated(log, data)
    rotated = [p for p in log_files(log) if p != log]
    assert len(rotated) >= 5
    rotated_bytes = b"".join(p.read_bytes() for p in reversed(rotated))
    report = ship(log, DirArchive(dest), keep=2, host="web-1")
    assert len(report.shipped) == len(rotated) and report.present == []
    archived = archived_dir(dest)
    assert sorted(archived) == sorted(report.shipped) == list(archived)  # names sort by time
    assert all(NAME.match(n) and "_web-1_p.jsonl_" in n for n in archived)
    # What was rotated is all in the archive; on disk: the live file and the 2 newest rotated ones.
    assert b"".join(archived.values()) == rotated_bytes
    assert [p.name for p in log_files(log)] == ["p.jsonl", "p.jsonl.1", "p.jsonl.2"]
    assert keys(b"".join(archived.values()) + log.read_bytes()) == keys(b"".join(data))
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no temporary file left
    again = ship(log, DirArchive(dest), keep=2, host="web-1")
    assert (again.shipped, len(again.present), again.deleted) == ([], 2, [])


def test_ships_to_s3_with_confirmation_and_never_twice(tmp_path: Path, s3: tuple[object, str]) -> None:
    client, bucket = s3
    log = tmp_path / "p.jsonl"
    data = lines(200)
    write_rotated(log, data)
    n_rotated = len(log_files(log)) - 1
    report = ship(log, open_archive(f"s3://{bucket}/fleet"), keep=1, host="web-2")
    assert len(report.shipped) == n_rotated and len(report.deleted) == n_rotated - 1
    archived = archived_s3(client, bucket, "fleet/")
    assert list(archived) == sorted(archived) == sorted(report.shipped)
    assert keys(b"".join(archived.values()) + log.read_bytes()) == keys(b"".join(data))
    # More traffic, another pass: only the new rotated files are put; the kept one is recognised.
    write_rotated(log, lines(100, start=200))
    report = ship(log, open_archive(f"s3://{bucket}/fleet"), keep=1, host="web-2")
    assert len(report.present) == 1 and report.shipped
    archived = archived_s3(client, bucket, "fleet/")
    assert keys(b"".join(archived.values()) + log.read_bytes()) == keys(b"".join(data + lines(100, start=200)))


def test_two_replicas_share_a_bucket_without_collisions(tmp_path: Path, s3: tuple[object, str]) -> None:
    client, bucket = s3
    archive = S3Archive(bucket, "fleet")
    for host in ("web-1", "web-2"):  # the same traffic on both: same times, different names
        write_rotated(tmp_path / host / "p.jsonl", lines(100))
        ship(tmp_path / host / "p.jsonl", archive, keep=1, host=host)
    names = list(archived_s3(client, bucket, "fleet/"))
    assert {n.split("_")[1] for n in names} == {"web-1", "web-2"}
    assert len(names) == len(set(names)) == 2 * len([n for n in names if "_web-1_" in n])


def failing_archive(
    case: str, bucket: str, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, AbstractContextManager[None]]:
    if case == "missing bucket":
        return f"s3://{bucket}-missing/fleet", nullcontext()
    if case == "bad credentials":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAREALKEY00000")
        return f"s3://{bucket}/fleet", enforced_auth(endpoint)
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    return f"s3://{bucket}/fleet", nullcontext()


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("missing bucket", "does not exist"),
        ("bad credentials", "access denied"),
        ("endpoint down", "endpoint unreachable"),
    ],
)
def test_a_failing_archive_is_one_line_naming_the_bucket_and_deletes_nothing(
    tmp_path: Path, s3: tuple[object, str], s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, case: str, cause: str
) -> None:
    _, bucket = s3
    log = tmp_path / "p.jsonl"
    write_rotated(log, lines(100))
    before = {p: p.read_bytes() for p in log_files(log)}
    dest, server_side = failing_archive(case, bucket, s3_endpoint, monkeypatch)
    with server_side, pytest.raises(ArchiveError) as info:
        ship(log, open_archive(dest), keep=1)
    message = str(info.value)
    assert "\n" not in message and cause in message and bucket in message, message
    assert {p: p.read_bytes() for p in log_files(log)} == before


def test_a_directory_that_cannot_be_written_deletes_nothing(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    write_rotated(log, lines(60))
    before = {p: p.read_bytes() for p in log_files(log)}
    (tmp_path / "not-a-dir").write_bytes(b"")
    with pytest.raises(ArchiveError, match="not-a-dir: cannot write the archive"):
        ship(log, DirArchive(tmp_path / "not-a-dir"), keep=1)
    assert {p: p.read_bytes() for p in log_files(log)} == before


@pytest.mark.slow
def test_killed_shippers_lose_nothing_and_double_nothing(tmp_path: Path, s3: tuple[object, str]) -> None:
    """SIGKILL `churnops logs ship` at random points, 10 times, adding traffic between; then one full pass."""
    client, bucket = s3
    log = tmp_path / "p.jsonl"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    rng = random.Random(19)
    written: list[bytes] = []
    argv = [sys.executable, "-m", "churnops.cli", "logs", "ship", "--log", str(log), "--to", f"s3://{bucket}/k",
            "--keep", "1", "--host", "web-1"]  # fmt: skip
    for round_ in range(10):
        more = lines(150, start=len(written), seed=round_)
        write_rotated(log, more, max_bytes=4096)
        written += more
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.0))  # start-up, hashing, puts, deletes: anywhere in between
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        archived = archived_s3(client, bucket, "k/")
        on_disk = local_lines(log)
        # Nothing lost at any point: every written row is archived or still on disk.
        assert set(keys(b"".join(written))) <= set(keys(b"".join(archived.values()) + on_disk))
    assert subprocess.run(argv, env=env, capture_output=True, timeout=120).returncode == 0
    archived = archived_s3(client, bucket, "k/")
    got = keys(b"".join(archived.values()))
    assert len(got) == len(set(got))  # no row archived twice
    rotated = keys(b"".join(p.read_bytes() for p in log_files(log) if p != log))
    assert set(rotated) <= set(got)  # what is kept on disk is shipped too
    assert sorted(set(got) | set(keys(log.read_bytes()))) == sorted(keys(b"".join(written)))


def test_the_service_thread_ships_and_reports_a_failure_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "p.jsonl"
    write_rotated(log, lines(60))
    (tmp_path / "blocked").write_bytes(b"")
    shipper = ArchiveShipper(log, str(tmp_path / "blocked"), keep=1, interval=3600)
    try:
        shipper.ship_once()
        shipper.ship_once()
        assert shipper.stats()["ok"] is False and len(log_files(log)) > 2
        assert len([r for r in caplog.records if "shipping failed" in r.getMessage()]) == 1
        shipper.archive = DirArchive(tmp_path / "archive")
        shipper.ship_once()
        assert shipper.stats()["ok"] is True and [p.name for p in log_files(log)] == ["p.jsonl", "p.jsonl.1"]
    finally:
        shipper.close()


def test_a_service_with_an_archive_ships_and_deletes_only_what_it_shipped(settings, tmp_path: Path) -> None:
    """The writer keeps every rotated file; the worker's shipper archives them, then applies retention."""
    import json as _json

    from churnops.service.app import create_app
    from tests.utils.doubles import FixedClock
    from tests.utils.factories import GOOD_CUSTOMER
    from tests.utils.service import TestClient

    s = settings.model_copy(update={"max_log_bytes": 4096, "log_backups": 1, "log_archive": str(tmp_path / "arch"),
                                    "log_archive_interval": 0.05})  # fmt: skip
    app = create_app(s, clock=FixedClock(1_780_000_000.5), handle_sighup=False)
    body = _json.dumps({"items": [GOOD_CUSTOMER] * 5}).encode()
    with TestClient(app) as client:
        for i in range(60):
            headers = {"Content-Type": "application/json", "X-Request-ID": f"q{i}"}
            assert client.post("/predict/batch", content=body, headers=headers).status_code == 200
        deadline = time.monotonic() + 10
        written = app.state.prediction_log.stats
        while time.monotonic() < deadline and (written()["lines_written"] < 300 or len(log_files(s.log_path)) > 2):
            time.sleep(0.05)
    assert [p.name for p in log_files(s.log_path)][1:] == [s.log_path.name + ".1"]
    archived = archived_dir(tmp_path / "arch")
    local = b"".join(p.read_bytes() for p in reversed(log_files(s.log_path)))
    got = keys(b"".join(archived.values())) + [k for k in keys(local) if k not in keys(b"".join(archived.values()))]
    assert sorted(got) == sorted((f"q{i}", j) for i in range(60) for j in range(5))
