"""The log's bounds: retention by default, a bounded writer queue, a bounded retry buffer."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from churnops.commands import serve
from churnops.core.logformat import BatchEntry, log_files
from churnops.service.logwriter import BackgroundLogWriter, LogFile
from churnops.service.settings import Settings
from tests.utils.doubles import SyncLogWriter
from tests.utils.factories import GOOD_CUSTOMER as GOOD
from tests.utils.logread import read_log


def batch(i: int, rows: int = 7) -> BatchEntry:
    return BatchEntry(0.0, f"b{i}", "v", [GOOD] * rows, [0.5] * rows, [True] * rows, 0.1)


def test_the_default_retention_is_bounded_and_the_serve_flags_say_the_same() -> None:
    s = Settings()
    assert s.max_log_bytes > 0 and s.log_backups > 0  # at most (backups + 1) x max_log_bytes on disk
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args([])
    for name in ("max_log_bytes", "log_backups", "log_queue_lines"):
        assert getattr(args, name) == getattr(s, name), name  # one default, two spellings


def test_rotation_deletes_beyond_the_backups_it_keeps(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    writer = SyncLogWriter(LogFile(path, max_bytes=4096, backups=3))
    for i in range(300):
        writer.submit(batch(i, rows=1))
    writer.close()
    assert [p.name for p in log_files(path)] == ["p.jsonl", "p.jsonl.1", "p.jsonl.2", "p.jsonl.3"]
    assert sum(p.stat().st_size for p in log_files(path)) <= 4 * 4096
    ids = read_log(path, rotated=True).ids
    assert ids == [f"b{i}" for i in range(300 - len(ids), 300)]  # the newest survive, in order


def test_a_full_queue_drops_the_newest_lines_counts_them_and_never_blocks(tmp_path: Path) -> None:
    writer = BackgroundLogWriter(LogFile(tmp_path / "p.jsonl"), interval=3600, max_queue_lines=100)
    for i in range(30):
        writer.submit(batch(i))  # the writer thread is asleep: nothing is taken off the queue
    stats = writer.stats()
    assert stats["queued_lines"] == 14 * 7 and stats["dropped_lines"] == 16 * 7
    writer.close()
    assert read_log(tmp_path / "p.jsonl").ids == [f"b{i}" for i in range(14) for _ in range(7)]
    assert writer.stats()["lines_written"] == 98


def test_a_failing_disk_holds_a_bounded_backlog_then_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(LogFile):
        broken = True

        def append(self, data: bytes) -> None:
            if self.broken:
                raise OSError(28, "No space left on device")
            super().append(data)

    monkeypatch.setattr("churnops.service.logwriter.RETRY_SECONDS", 0.0)
    sink = Broken(tmp_path / "p.jsonl")
    writer = BackgroundLogWriter(sink, interval=3600, max_pending_bytes=10_000)
    for i in range(50):
        writer.submit(batch(i))
    writer._drain()  # one wake-up of the writer thread, run here to be deterministic
    stats = writer.stats()
    assert stats["ok"] is False and stats["error"] == "No space left on device"
    held = stats["queued_lines"]
    assert 0 < held < 350 and stats["dropped_lines"] == 350 - held
    assert held * 250 < 10_000 + 7 * 400  # the retry buffer stays near its bound
    sink.broken = False
    writer.submit(batch(99))
    writer.close()
    stats = writer.stats()
    assert stats["ok"] is True and stats["error"] is None
    assert stats["lines_written"] == held + 7 and stats["dropped_lines"] == 350 - held
    assert len(read_log(tmp_path / "p.jsonl").predictions) == held + 7
