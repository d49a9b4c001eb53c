"""The prediction log: contents, whole lines across processes, rotation, and killed writers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from churnops.core.logformat import RowEntry, encode, log_files, rfc3339
from churnops.service.app import create_app
from churnops.service.logwriter import BackgroundLogWriter, LogFile
from churnops.service.settings import Settings
from tests.utils.doubles import FixedClock, SyncLogWriter
from tests.utils.factories import GOOD_CUSTOMER as GOOD
from tests.utils.logread import read_log
from tests.utils.service import TestClient, Trained

FEATURES = dict(GOOD)


def row(i: int, rid: str = "r") -> RowEntry:
    return RowEntry(1_700_000_000.5, f"{rid}-{i}", "f" * 32, FEATURES, 0.25, False, 0.5)


def test_rfc3339_is_utc_with_microseconds() -> None:
    assert rfc3339(1_700_000_000.25) == "2023-11-14T22:13:20.250000Z"
    assert rfc3339(1_700_000_000.9999996) == "2023-11-14T22:13:21.000000Z"


def test_service_logs_one_line_per_predicted_row(settings: Settings, logreg_model: Trained) -> None:
    app = create_app(settings, clock=FixedClock(1_700_000_000.25), handle_sighup=False)
    with TestClient(app) as client:
        one = client.post("/predict", json=GOOD, headers={"X-Request-ID": "single-1"}).json()
        items = [GOOD, {**GOOD, "plan": "premium"}, {**GOOD, "tenure_months": 100}]
        batch = client.post("/predict/batch", json={"items": items}, headers={"X-Request-ID": "batch-1"}).json()
        assert client.post("/predict", json={}, headers={"X-Request-ID": "bad-1"}).status_code == 422
    # leaving the client ran the lifespan shutdown, which flushes the writer
    lines = settings.log_path.read_bytes().splitlines()
    assert len(lines) == 5
    recs = [orjson.loads(line) for line in lines[:4]]
    rejected = orjson.loads(lines[4])  # the refused request is logged as a rejection, not a prediction
    assert rejected["kind"] == "rejected" and rejected["request_id"] == "bad-1" and rejected["n_errors"] == 5
    assert list(recs[0]) == [
        "ts",
        "request_id",
        "model_version",
        "features",
        "churn_probability",
        "churn",
        "latency_ms",
    ]
    assert recs[0]["ts"] == "2023-11-14T22:13:20.250000Z"
    assert recs[0]["request_id"] == "single-1"
    assert recs[0]["model_version"] == logreg_model.md5
    assert recs[0]["features"] == GOOD
    assert recs[0]["churn_probability"] == one["churn_probability"]
    assert recs[0]["churn"] == one["churn"]
    assert 0 <= recs[0]["latency_ms"] < 10_000
    assert [r["item"] for r in recs[1:]] == [0, 1, 2]
    assert {r["request_id"] for r in recs[1:]} == {"batch-1"}
    assert [r["features"] for r in recs[1:]] == items
    assert [r["churn_probability"] for r in recs[1:]] == [p["churn_probability"] for p in batch["predictions"]]


def test_encode_escapes_strings_and_matches_orjson() -> None:
    entry = RowEntry(0.0, 'we"ird\\id', "v", {"plan": 'a"b'}, 1e-05, True, 1.23456)
    rec = orjson.loads(encode(entry))
    assert rec["request_id"] == 'we"ird\\id'
    assert rec["features"] == {"plan": 'a"b'}
    assert rec["churn_probability"] == 1e-05
    assert rec["latency_ms"] == 1.235


def test_background_writer_flushes_everything_on_close(tmp_path: Path) -> None:
    writer = BackgroundLogWriter(LogFile(tmp_path / "p.jsonl"), interval=10.0)  # never wakes on its own
    for i in range(1000):
        writer.submit(row(i))
    writer.close()
    assert read_log(tmp_path / "p.jsonl").ids == [f"r-{i}" for i in range(1000)]
    assert writer.stats()["lines_written"] == 1000


def test_background_writer_retries_a_failing_disk(tmp_path: Path) -> None:
    class Flaky(LogFile):
        failures = 2

        def append(self, data: bytes) -> None:
            if self.failures:
                self.failures -= 1
                raise OSError(28, "No space left on device")
            super().append(data)

    writer = BackgroundLogWriter(Flaky(tmp_path / "p.jsonl"), interval=0.01)
    for i in range(10):
        writer.submit(row(i))
    writer.close()
    assert len(read_log(tmp_path / "p.jsonl").predictions) == 10
    assert writer.stats()["write_errors"] == 2


def test_an_unencodable_entry_is_dropped_not_fatal(tmp_path: Path) -> None:
    writer = BackgroundLogWriter(LogFile(tmp_path / "p.jsonl"), interval=0.01)
    writer.submit(row(0))
    writer.submit(RowEntry(0.0, "bad", "v", {"x": object()}, 0.5, True, 0.1))  # type: ignore[arg-type]
    writer.submit(row(1))
    writer.close()
    assert read_log(tmp_path / "p.jsonl").ids == ["r-0", "r-1"]
    assert writer.stats()["encode_errors"] == 1


def test_rotation_keeps_every_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    writer = SyncLogWriter(LogFile(path, max_bytes=4096))
    for i in range(300):
        writer.submit(row(i))
    writer.close()
    files = log_files(path)
    assert len(files) > 5
    assert files[0] == path and files[-1].name.endswith(f".{len(files) - 1}")  # newest first
    assert all(f.stat().st_size <= 4096 for f in files)
    ids = read_log(path, rotated=True).ids
    assert ids == [f"r-{i}" for i in range(300)]  # oldest file first, nothing lost or repeated


def test_rotation_with_a_backup_limit_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    writer = SyncLogWriter(LogFile(path, max_bytes=2048, backups=2))
    for i in range(200):
        writer.submit(row(i))
    writer.close()
    assert sorted(p.name for p in log_files(path)) == ["p.jsonl", "p.jsonl.1", "p.jsonl.2"]
    ids = read_log(path, rotated=True).ids
    assert ids == [f"r-{i}" for i in range(200 - len(ids), 200)]


def _hammer(path: str, worker: int, n: int) -> None:
    sink = LogFile(path, max_bytes=64 * 1024)
    for i in range(n):
        entries = [row(j, rid=f"w{worker}-{i}") for j in range(1 + i % 7)]
        sink.append(b"".join(encode(e) for e in entries))
    sink.close()


def test_concurrent_processes_never_tear_or_lose_lines_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(str(path), w, 400)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = read_log(path, rotated=True)
    recs = log.predictions
    assert not log.skipped
    expected = sum(1 + i % 7 for i in range(400)) * 4
    assert len(recs) == expected == log.lines
    assert len(log_files(path)) > 3  # it did rotate, under contention
    ids = [r["request_id"] for r in recs]
    assert len(set(ids)) == expected  # none duplicated
    # Each append's lines stay together: another process never writes into the middle.
    appends = [i.rsplit("-", 1)[0] for i in ids]
    runs = [a for k, a in enumerate(appends) if k == 0 or a != appends[k - 1]]
    assert len(runs) == len(set(runs)) == 4 * 400


def test_a_partial_line_is_skipped_and_never_glued_to_the_next(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    whole = encode(row(0)) + encode(row(1))
    path.write_bytes(whole + encode(row(2))[:37])  # a writer died in the middle of line 3
    log = read_log(path)
    assert log.ids == ["r-0", "r-1"]
    assert log.skipped == {"partial": 1}
    sink = LogFile(path)
    sink.append(encode(row(3)))
    sink.close()
    log = read_log(path)
    assert log.ids == ["r-0", "r-1", "r-3"]
    assert log.skipped == {"invalid_json": 1}  # the fragment, now on a line of its own


_KILLED_WRITER = """
import sys
from churnops.core.logformat import RowEntry, encode
from churnops.service.logwriter import LogFile
sink = LogFile(sys.argv[1])
big = {"tenure_months": 1, "num_complaints": 1, "avg_session_minutes": 1.0, "plan": "basic", "region": "north"}
i = 0
while True:
    sink.append(b"".join(encode(RowEntry(0.0, f"k-{i}-{j}", "v", big, 0.5, True, 0.1)) for j in range(50)))
    i += 1
    if i == 20:
        print("ready", flush=True)
"""


def test_a_killed_writer_leaves_only_valid_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    log = read_log(path)
    assert len(log.predictions) >= 1000
    assert sum(log.skipped.values()) <= 1
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    assert all(orjson.loads(line) for line in complete.splitlines())
