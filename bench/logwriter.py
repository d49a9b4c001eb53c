"""Benchmark: the prediction-log writer, with and without the fresh-line check; RSS after a burst.

1. ``LogFile.append`` throughput, side by side in one run and interleaved over rounds:
   the current writer (``pread`` of the last byte under the lock before every append)
   against the same writer with that check removed (a writer that trusts its own last append).
   Chunk sizes: one record, a 20 ms backlog of /predict at ~14k req/s, a 10,000-row batch.
2. The background writer end to end: 10,000-row batches submitted, time until all are on disk.
3. Worker memory after a burst: a fresh process submits 50 batches of 10,000 rows (fresh
   dicts, as pydantic makes them), waits until the writer has drained, and reports RSS
   before, at the peak and 1 s after, with the default bounded queue and an unbounded one.
4. With ``--live``: a real ``churnops serve`` (1 worker, 127.0.0.1) under 4 clients sending
   10,000-row batches for ``--live-seconds``; the worker's RSS before, at the peak and 3 s
   after, and what ``/health`` says the log wrote and dropped, for both queue bounds.

Prints markdown tables. Writes only to a temporary directory, removed at the end.

    .venv/bin/python bench/logwriter.py [--rounds 5] [--live] [--live-seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from churnops.core.logformat import BatchEntry, RowEntry, encode
from churnops.service.logwriter import DEFAULT_QUEUE_LINES, BackgroundLogWriter, LogFile

CUSTOMER = {"tenure_months": 14, "num_complaints": 2, "avg_session_minutes": 21.5, "plan": "basic", "region": "south"}


class NoCheckLogFile(LogFile):
    """The writer as it was before: no look at the file's last byte."""

    def _separator(self, fd: int, size: int) -> bytes:
        return b""

    def append(self, data: bytes) -> None:
        self._end = None  # always take the _separator path, which does nothing here
        super().append(data)


class PeerWroteLogFile(LogFile):
    """The current writer when another worker appended since its last append: it preads every time."""

    def append(self, data: bytes) -> None:
        self._end = None
        super().append(data)


def chunk(lines: int) -> bytes:
    if lines == 1:
        return encode(RowEntry(time.time(), "r", "m" * 32, CUSTOMER, 0.5, True, 0.3))
    return encode(BatchEntry(time.time(), "b", "m" * 32, [CUSTOMER] * lines, [0.5] * lines, [True] * lines, 0.3))


def append_rate(cls: type[LogFile], path: Path, data: bytes, seconds: float) -> float:
    """Appends per second of ``data`` for about ``seconds``."""
    sink = cls(path, max_bytes=64 * 1024 * 1024, backups=1)
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(20):
            sink.append(data)
        n += 20
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - t0
    sink.close()
    return n / elapsed


def writer_rows_per_second(cls: type[LogFile], path: Path, batches: int) -> float:
    rows = 10_000
    entry = BatchEntry(time.time(), "b", "m" * 32, [CUSTOMER] * rows, [0.5] * rows, [True] * rows, 0.3)
    writer = BackgroundLogWriter(cls(path, max_bytes=64 * 1024 * 1024, backups=1), max_queue_lines=10**9)
    t0 = time.perf_counter()
    for _ in range(batches):
        writer.submit(entry)
    writer.close()
    elapsed = time.perf_counter() - t0
    assert writer.stats()["lines_written"] == batches * rows
    return batches * rows / elapsed


_RSS_CHILD = """
import json, os, sys, time
import churnops.service.logwriter as pl
from churnops.core.logformat import BatchEntry
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * page / 2**20
C = {"tenure_months": 14, "num_complaints": 2, "avg_session_minutes": 21.5, "plan": "basic", "region": "south"}
w = pl.BackgroundLogWriter(pl.LogFile(sys.argv[1], max_bytes=2**30), max_queue_lines=int(sys.argv[2]))
time.sleep(0.2)
before = rss()
peak = before
for i in range(50):
    rows = [dict(C, tenure_months=j % 200) for j in range(10_000)]
    w.submit(BatchEntry(time.time(), f"b{i}", "m" * 32, rows, [0.5] * 10_000, [True] * 10_000, 0.3))
    del rows
    peak = max(peak, rss())
while w.stats()["queued_lines"]:
    peak = max(peak, rss())
    time.sleep(0.01)
time.sleep(1.0)
after = rss()
s = w.stats()
w.close()
print(json.dumps({"before": before, "peak": peak, "after": after, "written": s["lines_written"],
                  "dropped": s["dropped_lines"]}))
"""


def rss_after_burst(path: Path, queue_lines: int) -> dict[str, float]:
    cmd = [sys.executable, "-c", _RSS_CHILD, str(path), str(queue_lines)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300).stdout
    path.unlink(missing_ok=True)
    figures: dict[str, float] = json.loads(out)
    return figures


def worker_rss(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def live_burst(tmp: Path, queue_lines: int, seconds: float) -> dict[str, float]:
    """One server, one burst of batch load; see the module docstring (part 4)."""
    import asyncio

    import httpx
    from serve import build_repo, server

    from tests.utils.server import free_port

    repo = tmp / f"repo-{queue_lines}"
    build_repo(repo)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / f"log-{queue_lines}" / "p.jsonl"
    cmd = [str(Path(sys.executable).parent / "churnops"), "serve", "--port", str(port), "--repo", str(repo),
           "--log-path", str(log), "--log-queue-lines", str(queue_lines)]  # fmt: skip
    rows = [dict(CUSTOMER, tenure_months=j % 200) for j in range(10_000)]
    body = json.dumps({"items": rows}).encode()
    with server(cmd, port, tmp):
        pid = httpx.get(f"{url}/health").json()["pid"]
        out = {"before": worker_rss(pid), "peak": 0.0, "served": 0}

        async def load() -> None:
            end = time.monotonic() + seconds
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:

                async def one() -> None:
                    while time.monotonic() < end:
                        r = await client.post("/predict/batch", content=body,
                                              headers={"Content-Type": "application/json"})  # fmt: skip
                        assert r.status_code == 200, r.text
                        out["served"] += 10_000

                async def watch() -> None:
                    while time.monotonic() < end + 0.5:
                        out["peak"] = max(out["peak"], worker_rss(pid))
                        await asyncio.sleep(0.05)

                await asyncio.gather(*(one() for _ in range(4)), watch())

        t0 = time.monotonic()
        asyncio.run(load())
        out["rows_per_s"] = out["served"] / (time.monotonic() - t0)
        time.sleep(3)
        out["after"] = worker_rss(pid)
        log = httpx.get(f"{url}/health").json()["log"]
        out["written"], out["dropped"] = log["lines_written"], log["dropped_lines"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per cell (default: 5)")
    parser.add_argument("--seconds", type=float, default=0.5, help="seconds per append measurement (default: 0.5)")
    parser.add_argument("--live", action="store_true", help="also load a real churnops serve with batches")
    parser.add_argument("--live-seconds", type=float, default=8.0, help="seconds of batch load (default: 8)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run: checks the bench still works end to end",
    )
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.live, args.live_seconds = 1, 0.02, True, 0.5
    tmp = Path(tempfile.mkdtemp(prefix="churnops-bench-logwriter-"))
    try:
        cells = [("1 record", 1), ("20 ms of /predict (280 records)", 280), ("one 10,000-row batch", 10_000)]
        print(
            "Appends/s, median of interleaved rounds. *after, sole writer*: the file still has the size our"
            " last append left (no pread). *after, a peer wrote since*: the last byte is pread every time."
        )
        print()
        print("| append of | bytes | before | after, sole writer | ratio | after, a peer wrote since | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        variants = (("before", NoCheckLogFile), ("sole", LogFile), ("peer", PeerWroteLogFile))
        for label, lines in cells:
            data = chunk(lines)
            rates: dict[str, list[float]] = {name: [] for name, _ in variants}
            for _ in range(args.rounds):
                for name, cls in variants:
                    rates[name].append(append_rate(cls, tmp / f"{name}.jsonl", data, args.seconds))
                    for p in tmp.glob(f"{name}.jsonl*"):
                        p.unlink()
            b, s, p_ = (statistics.median(rates[name]) for name, _ in variants)
            print(f"| {label} | {len(data):,} | {b:,.0f} | {s:,.0f} | {s / b:.3f} | {p_:,.0f} | {p_ / b:.3f} |")
        print()
        rows: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            for name, cls in (("before", NoCheckLogFile), ("after", PeerWroteLogFile)):
                rows[name].append(writer_rows_per_second(cls, tmp / f"w-{name}.jsonl", 20))
                for p in tmp.glob(f"w-{name}.jsonl*"):
                    p.unlink()
        b, a = statistics.median(rows["before"]), statistics.median(rows["after"])
        print("| background writer, 20 batches of 10,000 rows | before: rows/s | after (pread on every append): rows/s "
              "| after / before |")  # fmt: skip
        print("|---|---:|---:|---:|")
        print(f"| encode + append, median of {args.rounds} | {b:,.0f} | {a:,.0f} | {a / b:.3f} |")
        print()
        print("| burst of 50 x 10,000 rows, one worker | RSS before (MiB) | peak | 1 s after | written | dropped |")
        print("|---|---:|---:|---:|---:|---:|")
        for queue, label in ((10**9, "unbounded queue (as before)"), (DEFAULT_QUEUE_LINES, "bounded queue (default)")):
            r = rss_after_burst(tmp / "rss.jsonl", queue)
            print(f"| {label} | {r['before']:.0f} | {r['peak']:.0f} | {r['after']:.0f} | {r['written']:,} "
                  f"| {r['dropped']:,} |")  # fmt: skip
        if args.live:
            print()
            print(f"| churnops serve, 1 worker, 4 clients x 10,000-row batches for {args.live_seconds:g} s "
                  "| rows/s served | RSS before (MiB) | peak | 3 s after | log lines written | dropped |")  # fmt: skip
            print("|---|---:|---:|---:|---:|---:|---:|")
            for queue, label in ((10**9, "unbounded queue (as before)"), (DEFAULT_QUEUE_LINES, "bounded (default)")):
                r = live_burst(tmp, queue, args.live_seconds)
                print(f"| {label} | {r['rows_per_s']:,.0f} | {r['before']:.0f} | {r['peak']:.0f} | {r['after']:.0f} "
                      f"| {r['written']:,} | {r['dropped']:,} |")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
