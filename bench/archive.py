"""Benchmark: shipping a rotated prediction-log file to the archive, and reading it back.

1. One pass of :func:`churnops.service.shipper.ship` on one rotated file of ``--mb`` MB to a
   directory archive: hash, gzip, write, fsync, rename (the first pass), then the pass a timer
   runs next (hash, find the name, nothing to put), then the pass of a long-running shipper that
   remembers the file (no hash).
2. Reading the same lines through :mod:`churnops.core.logsource`: the plain file against the
   archived ``.jsonl.gz``, side by side, each the best of ``--rounds``.

Prints a markdown table. Writes only to a temporary directory, removed at the end.

    .venv/bin/python bench/archive.py [--mb 100] [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from churnops.core.archive import DirArchive
from churnops.core.logformat import RowEntry, encode
from churnops.core.logsource import log_streams
from churnops.service.shipper import FileId, ship

PLANS = ("basic", "standard", "premium")
REGIONS = ("north", "south", "east", "west")


def write_log(path: Path, mb: float) -> int:
    """A rotated-file-sized log of realistic lines (distinct values, so gzip sees real entropy)."""
    rng = random.Random(0)
    n = 0
    with open(path, "wb") as out:
        while out.tell() < mb * 1e6:
            chunk = []
            for _ in range(1000):
                features = {"tenure_months": rng.randint(1, 72), "num_complaints": rng.randint(0, 9),
                            "avg_session_minutes": round(rng.uniform(1, 60), 2), "plan": rng.choice(PLANS),
                            "region": rng.choice(REGIONS)}  # fmt: skip
                p = rng.random()
                rid, cid = f"{rng.getrandbits(64):016x}", f"c{rng.randrange(10**6)}"
                entry = RowEntry(1.78e9 + n * 0.01, rid, "d8aab982826e08b3" * 2, features, p, p >= 0.5, 0.4, cid)
                chunk.append(encode(entry))
                n += 1
            out.write(b"".join(chunk))
    return n


def timed_read(specs: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    lines = sum(1 for fh in log_streams(specs) for _ in fh)
    return time.perf_counter() - t, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="rotated file size (default: the service's 100)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a 2 MB file, one round: that it runs")
    args = parser.parse_args()
    mb, rounds = (2.0, 1) if args.smoke else (args.mb, args.rounds)
    root = Path(tempfile.mkdtemp(prefix="churnops-bench-archive-"))
    try:
        log = root / "logs" / "predictions.jsonl"
        log.parent.mkdir()
        n = write_log(log.with_name(log.name + ".1"), mb)
        raw = log.with_name(log.name + ".1").stat().st_size
        dest = DirArchive(root / "archive")
        t = time.perf_counter()
        ship(log, dest, keep=0, host="bench")
        first = time.perf_counter() - t
        t = time.perf_counter()
        ship(log, dest, keep=0, host="bench")
        again = time.perf_counter() - t
        known: dict[FileId, str] = {}
        ship(log, dest, keep=0, host="bench", known=known)
        t = time.perf_counter()
        ship(log, dest, keep=0, host="bench", known=known)
        remembered = time.perf_counter() - t
        gz = sum(p.stat().st_size for p in (root / "archive").iterdir())
        plain = min(timed_read([str(log)])[0] for _ in range(rounds))
        archived = min(timed_read([str(root / "archive")])[0] for _ in range(rounds))
        assert timed_read([str(root / "archive")])[1] == n
        print(f"one rotated file: {n:,} lines, {raw / 1e6:.1f} MB raw, {gz / 1e6:.1f} MB archived ({raw / gz:.1f}x)\n")
        print("| step | seconds | MB/s (raw) |")
        print("|---|---:|---:|")
        for name, sec in [("ship: first pass (hash, gzip, write, fsync, rename)", first),
                          ("ship: next pass, a new process (hash, name found)", again),
                          ("ship: next pass, the same shipper (remembered)", remembered),
                          ("read the plain file (logsource)", plain),
                          ("read the archived .jsonl.gz (logsource)", archived)]:  # fmt: skip
            print(f"| {name} | {sec:.3f} | {raw / 1e6 / sec:,.0f} |" if sec >= 1e-3 else f"| {name} | {sec:.3f} | - |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
