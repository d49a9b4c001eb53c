"""A full disk (ENOSPC) on a real 1 MiB tmpfs: the service keeps answering, says so, never corrupts the log."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from churnops.core.logformat import RowEntry, encode
from churnops.service.app import create_app
from churnops.service.logwriter import BackgroundLogWriter, LogFile
from churnops.service.settings import Settings
from tests.utils.doubles import FixedClock
from tests.utils.factories import GOOD_CUSTOMER as GOOD
from tests.utils.logread import read_log
from tests.utils.service import TestClient

FEATURES = dict(GOOD)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for this test only (needs root, or CAP_SYS_ADMIN); unmounted after."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"cannot mount a tmpfs to fill: {err}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` with one file until about ``leave`` bytes are free; returns the file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while fh.write(b"x" * 4096):
                pass
        except OSError:
            pass
    size = filler.stat().st_size
    with open(filler, "r+b") as fh:
        fh.truncate(max(0, size - leave))
    return filler


def test_log_file_on_a_full_disk_keeps_only_whole_lines(small_disk: Path) -> None:
    path = small_disk / "p.jsonl"
    fill(small_disk, leave=64 * 1024)
    sink = LogFile(path)
    written = 0
    failures = 0
    for i in range(2000):
        chunk = b"".join(encode(RowEntry(0.0, f"r-{i}-{j}", "v", FEATURES, 0.5, True, 0.1)) for j in range(7))
        try:
            sink.append(chunk)
            written += 7
        except OSError as err:
            assert err.errno == 28
            failures += 1
    sink.close()
    assert failures > 0 and written > 0  # the disk did fill up, after some lines
    data = path.read_bytes()
    assert data.endswith(b"\n")
    log = read_log(path)
    assert not log.skipped and len(log.predictions) == written


def test_service_on_a_full_disk_answers_reports_and_counts(small_disk: Path, settings: Settings) -> None:
    settings = settings.model_copy(update={"log_path": small_disk / "predictions.jsonl"})
    filler = fill(small_disk, leave=32 * 1024)
    writer = BackgroundLogWriter(LogFile(settings.log_path), interval=0.01, max_pending_bytes=64 * 1024)
    app = create_app(settings, log=writer, clock=FixedClock(), handle_sighup=False)
    with TestClient(app) as client:
        for _ in range(40):  # 40 x 50 rows, ~0.5 MB of log: far more than the disk holds
            r = client.post("/predict/batch", json={"items": [FEATURES] * 50})
            assert r.status_code == 200
            assert client.post("/predict", json=FEATURES).status_code == 200
        health = _wait_for(client, lambda log: not log["ok"] and log["dropped_lines"] > 0)
        assert health["status"] == "ok"
        assert health["log"]["error"] == "No space left on device"

        filler.unlink()  # space again: the writer recovers by itself (retrying once a second)
        assert client.post("/predict", json=FEATURES).status_code == 200
        _wait_for(client, lambda log: log["ok"] and log["queued_lines"] == 0)
    stats = writer.stats()
    log = read_log(settings.log_path)
    assert not log.skipped  # never a partial or glued line
    assert settings.log_path.read_bytes().endswith(b"\n")
    assert len(log.predictions) == stats["lines_written"]
    assert stats["lines_written"] + stats["dropped_lines"] == 40 * 51 + 1  # every row: written or counted


def _wait_for(client: httpx.Client, ok, timeout: float = 20.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        health = client.get("/health").json()
        if ok(health["log"]):
            return health
        assert time.monotonic() < deadline, health["log"]
        time.sleep(0.05)
