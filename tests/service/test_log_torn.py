"""Every append starts on a fresh line, whatever another process left in the file."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from churnops.core.logformat import RowEntry, encode
from churnops.service.logwriter import LogFile
from tests.utils.logread import read_log

FEATURES = {"tenure_months": 3, "num_complaints": 0, "avg_session_minutes": 10.8, "plan": "basic", "region": "west"}


def test_a_writer_that_already_holds_the_file_does_not_glue_onto_a_peers_fragment(tmp_path: Path) -> None:
    """Both writers opened the file before the fragment appeared: the fresh-line check runs at every
    append, not once at open."""
    p = tmp_path / "p.jsonl"
    a, b = LogFile(p), LogFile(p)
    b.append(b'{"n":0}\n')
    a.append(b'{"n":1,"tor')  # a writer killed mid-line leaves this
    b.append(b'{"n":2}\n')
    a.append(b'{"n":3}\n')
    a.close()
    b.close()
    lines = p.read_bytes().split(b"\n")
    assert lines == [b'{"n":0}', b'{"n":1,"tor', b'{"n":2}', b'{"n":3}', b""]
    assert [orjson.loads(line)["n"] for line in lines if line.endswith(b"}")] == [0, 2, 3]


def test_a_fragment_written_behind_the_writers_back_is_closed_before_the_next_append(tmp_path: Path) -> None:
    p = tmp_path / "p.jsonl"
    sink = LogFile(p)
    sink.append(encode(RowEntry(0.0, "r-0", "v", FEATURES, 0.5, True, 0.1)))
    with open(p, "ab") as fh:  # not through LogFile: no lock, no newline
        fh.write(b'{"request_id": "half')
    sink.append(encode(RowEntry(0.0, "r-1", "v", FEATURES, 0.5, True, 0.1)))
    sink.close()
    log = read_log(p)
    assert log.ids == ["r-0", "r-1"]
    assert log.skipped == {"invalid_json": 1}


def test_a_failed_write_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "p.jsonl"
    sink = LogFile(p)
    sink.append(b'{"n":0}\n')
    real_write = os.write
    calls = 0

    def short_then_enospc(fd: int, data: bytes | memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data[:5]))  # a short write, as on a nearly full disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", short_then_enospc)
    with pytest.raises(OSError, match="No space"):
        sink.append(b'{"n":1}\n{"n":2}\n')
    monkeypatch.undo()
    assert p.read_bytes() == b'{"n":0}\n'  # no partial line left behind
    sink.append(b'{"n":3}\n')
    sink.close()
    assert p.read_bytes() == b'{"n":0}\n{"n":3}\n'


def test_a_sole_writer_that_wrote_a_fragment_itself_still_starts_a_fresh_line(tmp_path: Path) -> None:
    p = tmp_path / "p.jsonl"
    sink = LogFile(p)
    sink.append(b'{"n":0}\n')
    sink.append(b'{"n":1,"tor')  # no peer wrote since: the writer knows its own last byte
    sink.append(b'{"n":2}\n')
    sink.close()
    assert p.read_bytes() == b'{"n":0}\n{"n":1,"tor\n{"n":2}\n'
