"""The tail reader returns exactly the newest N lines, whatever the files look like, and no more."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import pytest

from churnops.core.logsource import resolve
from churnops.monitor.records import parse_line
from churnops.monitor.tail import LogReadError, iter_lines_newest_first, read_window, rotated_files


def rec(i: int, pad: int = 0, ts: str | None = None) -> bytes:
    features = {
        "tenure_months": i % 200,
        "num_complaints": 1,
        "avg_session_minutes": 20.5,
        "plan": "basic",
        "region": "east",
    }
    body = {"request_id": f"r{i}", "features": features, "churn_probability": 0.25, "pad": "x" * pad}
    if ts is not None:
        body["ts"] = ts
    return json.dumps(body).encode()


def tail_records(path, n: int, parse=parse_line, **kwargs):
    return read_window(path, n, parse, **kwargs)


def ids(window) -> list[int]:
    return [e.values[0] for e in window.entries if e.reason is None]  # tenure_months carries i % 200


def reasons(window) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in window.entries:
        if e.reason is not None:
            out[e.reason] = out.get(e.reason, 0) + 1
    return out


def reference(lines: list[tuple[bytes, bool]], n: int) -> list:
    """The obvious (whole-file) answer: the last n non-blank lines (up to n blank ones are passed over)."""
    kept, blanks = [], 0
    for data, _ in reversed(lines):
        if len(kept) == n:
            break
        if not data.strip() and blanks < n:
            blanks += 1
            continue
        kept.append(parse_line(data) if data.strip() else "empty")
    return list(reversed(kept))


@pytest.mark.parametrize("trailing_newline", [True, False])
@pytest.mark.parametrize("block_size", [1, 7, 64, 4096, 1 << 20])
def test_exact_last_n_with_and_without_trailing_newline(
    tmp_path: Path, trailing_newline: bool, block_size: int
) -> None:
    log = tmp_path / "p.jsonl"
    log.write_bytes(b"\n".join(rec(i) for i in range(50)) + (b"\n" if trailing_newline else b""))
    for n in (1, 2, 10, 49, 50, 51, 1000):
        tail = tail_records(log, n, block_size=block_size)
        assert ids(tail) == list(range(max(0, 50 - n), 50)), n
        assert reasons(tail) == {}


def test_records_larger_than_the_block_size(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_bytes(b"".join(rec(i, pad=5000 + 997 * i) + b"\n" for i in range(12)))
    tail = tail_records(log, 5, block_size=512)
    assert ids(tail) == [7, 8, 9, 10, 11]
    assert reasons(tail) == {}


def test_across_rotation_newest_first(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    # X.2 oldest (0-9), X.10 must sort after X.2 numerically: it is older still (never used here),
    # X.1 (10-19), X (20-24, no trailing newline).
    (tmp_path / "p.jsonl.2").write_bytes(b"".join(rec(i) + b"\n" for i in range(10)))
    (tmp_path / "p.jsonl.1").write_bytes(b"".join(rec(i) + b"\n" for i in range(10, 20)))
    log.write_bytes(b"\n".join(rec(i) for i in range(20, 25)))
    (tmp_path / "p.jsonl.1.gz").write_bytes(b"\x1f\x8b junk")  # compressed backups are not read
    (tmp_path / "p.jsonl.bak").write_bytes(b"junk\n")
    assert [p.name for p in rotated_files(log)] == ["p.jsonl", "p.jsonl.1", "p.jsonl.2"]
    for n, expected in ((3, range(22, 25)), (5, range(20, 25)), (12, range(13, 25)), (100, range(25))):
        tail = tail_records(log, n, block_size=64)
        assert ids(tail) == list(expected)
        assert reasons(tail) == {}


def test_rotation_numbers_sort_numerically_and_missing_live_file_is_fine(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    for k in (1, 2, 10):
        (tmp_path / f"p.jsonl.{k}").write_bytes(rec(k) + b"\n")
    assert [p.name for p in rotated_files(log)] == ["p.jsonl.1", "p.jsonl.2", "p.jsonl.10"]
    assert ids(tail_records(log, 2)) == [2, 1]


def test_invalid_lines_are_part_of_the_window_with_their_reason(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    bad_schema = json.loads(rec(1))
    bad_schema["features"]["plan"] = "gold"
    lines = [
        rec(0),
        b"\x00\xff\xfe binary junk \x00",
        rec(1),
        b'{"features": {"tenure_months": 3',  # a write cut short in the middle of the file
        json.dumps(bad_schema).encode(),
        b"[1, 2, 3]",
        b'{"no": "features"}',
        rec(2),
        b"",
        json.dumps({**json.loads(rec(3)), "churn_probability": 1.5}).encode(),
        rec(4),
    ]
    log.write_bytes(b"\n".join(lines) + b"\n" + rec(5)[:40])  # the last line after a crash
    tail = tail_records(log, 100, block_size=16)
    # A bad probability keeps the record's features (3 here) out of nothing but the prediction rule.
    assert ids(tail) == [0, 1, 2, 3, 4]
    assert reasons(tail) == {
        "partial": 1,
        "binary": 1,
        "invalid_json": 1,
        "schema": 1,
        "not_an_object": 1,
        "no_features": 1,
    }
    assert tail.blank_lines == 1 and len(tail.entries) == 11
    # The window is the newest n lines, valid or not: never filled from older ones.
    tail = tail_records(log, 2, block_size=16)
    assert ids(tail) == [4] and reasons(tail) == {"partial": 1}


def test_a_garbage_tail_is_read_no_further_than_the_window(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    garbage = json.loads(rec(0))
    garbage["features"]["plan"] = "enterprise"
    log.write_bytes(b"".join(rec(i) + b"\n" for i in range(1000)) + (json.dumps(garbage).encode() + b"\n") * 20_000)
    tail = tail_records(log, 200)
    assert reasons(tail) == {"schema": 200} and ids(tail) == []
    assert tail.lines_read <= 201
    # Blank lines are passed over, but only up to an allowance of n: the cost stays bounded.
    log.write_bytes(b"".join(rec(i) + b"\n" for i in range(10)) + b"\n" * 1000)
    tail = tail_records(log, 50)
    assert tail.blank_lines == 50 and reasons(tail) == {"empty": 50} and tail.lines_read <= 101


def test_overlong_lines_are_counted_without_holding_them(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_bytes(rec(0) + b"\n" + b"z" * 50_000 + b"\n" + rec(1) + b"\n" + b"y" * 50_000)
    tail = tail_records(log, 10, block_size=1000, max_line_bytes=10_000)
    assert ids(tail) == [0, 1]
    assert reasons(tail) == {"too_long": 2}


def test_matches_the_whole_file_reading_on_random_logs(tmp_path: Path) -> None:
    rnd = random.Random(1234)
    junk = [b"", b"{", b"null", b"\xff\xfe", b'{"features": {}}', b"  ", b"\r"]
    for trial in range(60):
        lines: list[tuple[bytes, bool]] = []
        for i in range(rnd.randint(0, 40)):
            lines.append((rnd.choice(junk) if rnd.random() < 0.3 else rec(i, pad=rnd.choice([0, 0, 300])), True))
        data = b"".join(d + b"\n" for d, _ in lines)
        if lines and rnd.random() < 0.5:
            data = data[:-1]
        log = tmp_path / f"p{trial}.jsonl"
        log.write_bytes(data)
        n = rnd.randint(1, 45)
        got = tail_records(log, n, block_size=rnd.choice([1, 3, 17, 128, 4096])).entries
        want = reference(lines, n)
        # The unterminated last line, if not JSON, is "partial" instead of its parse reason.
        strip = lambda es: [(e.reason if e != "empty" else "empty", getattr(e, "values", None)) for e in es]  # noqa: E731
        got_s, want_s = strip(got), [("empty", None) if e == "empty" else (e.reason, e.values) for e in want]
        if got_s and got_s[-1][0] == "partial":
            want_s[-1] = got_s[-1]
        assert got_s == want_s, trial


def test_replicas_are_merged_newest_first_by_time_stamp(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "predictions.jsonl", tmp_path / "b" / "predictions.jsonl"
    a.parent.mkdir()
    b.parent.mkdir()
    # Replica a served the even seconds, b the odd ones; b's garbage line takes its neighbour's time.
    a.write_bytes(b"".join(rec(i, ts=f"2025-01-01T00:00:{i:02d}.000000Z") + b"\n" for i in range(0, 40, 2)))
    b_lines = [rec(i, ts=f"2025-01-01T00:00:{i:02d}.5Z") + b"\n" for i in range(1, 40, 2)]
    b_lines.insert(10, b"{garbage\n")
    b.write_bytes(b"".join(b_lines))
    window = read_window([a, b], 10, parse_line)
    assert ids(window) == list(range(30, 40)) and reasons(window) == {}
    window = read_window([a, b], 30, parse_line)
    assert ids(window) == list(range(11, 40)) and reasons(window) == {"invalid_json": 1}
    # A glob names the same replicas (rotated backups are reached through their live file).
    (tmp_path / "a" / "predictions.jsonl.1").write_bytes(rec(999) + b"\n")
    assert [Path(s.label) for s in resolve(str(tmp_path / "*" / "predictions.jsonl*"))] == [a, b]
    assert ids(read_window(str(tmp_path / "*" / "predictions.jsonl"), 10, parse_line)) == list(range(30, 40))


def test_iterates_lines_newest_first_and_flags_the_unterminated_one(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_bytes(b"a\nbb\nccc")
    got = [(line.data, line.terminated) for line in iter_lines_newest_first(log, block_size=2)]
    assert got == [(b"ccc", False), (b"bb", True), (b"a", True)]
    log.write_bytes(b"")
    assert list(iter_lines_newest_first(log)) == []


def test_missing_log_has_no_files_and_no_records(tmp_path: Path) -> None:
    tail = tail_records(tmp_path / "absent.jsonl", 10)
    assert tail.entries == [] and tail.files == [] and tail.lines_read == 0


def test_unreadable_log_raises(tmp_path: Path) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(LogReadError, match=r"dir\.jsonl"):
        tail_records(tmp_path / "dir.jsonl", 10)
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.jsonl"
        locked.write_bytes(rec(0) + b"\n")
        locked.chmod(0)
        with pytest.raises(LogReadError, match=r"locked\.jsonl"):
            tail_records(locked, 10)


def test_never_modifies_the_log(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_bytes(b"".join(rec(i) + b"\n" for i in range(300)) + b"partial")
    (tmp_path / "p.jsonl.1").write_bytes(rec(999) + b"\n")
    before = {
        p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns, p.stat().st_size)
        for p in tmp_path.iterdir()
    }
    tail_records(log, 1000, block_size=100)
    after = {
        p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns, p.stat().st_size)
        for p in tmp_path.iterdir()
    }
    assert before == after
