"""Benchmark: the monitor's cost is flat in the size of the log and in what its tail holds;
how fast it sees a sudden shift.

1. Builds a 10k-line and a 5M-line (~1.5 GB) prediction log in a temporary directory,
   times the whole drift check (tail + parse + statistics) on both, side by side in one
   run, and measures peak memory of a fresh process doing one check on each. For contrast
   it times ``pandas.read_json(lines=True)`` on a 200k-line log and extrapolates linearly
   to 5M lines (labelled as such).
2. A 200k-line clean log against the same log followed by 200k schema-failing lines
   (``plan: "enterprise"``): the check reads the newest ``last_n`` lines whatever they
   are, so both cost the same.
3. Detection delay: clean traffic, then a sudden shift of ``tenure_months`` by -0.5
   training standard deviations; after each new line the window of the newest
   ``last_n`` lines is checked (the same rules as ``check``, on in-memory lines), and the
   number of shifted lines until status ``drift`` is recorded, over ``--delay-trials``
   seeds. Trials whose window was already in (false) alarm when the shift started are
   counted apart.

Prints markdown tables. Everything it writes is removed at the end.

    .venv/bin/python bench/monitor.py [--big-lines 5000000] [--repeats 15] [--delay-trials 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churnops.core.trainstats import TrainStats
    from churnops.monitor.records import Entry
    from churnops.monitor.rules import Rules

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests.utils: the labelled-frame factory
    sys.path.insert(0, str(ROOT))

BLOCK_LINES = 10_000


def default_rules() -> Rules:
    """The drift rules of the project's params.yaml (the bench runs from the project root)."""
    from churnops.core.params import load_params
    from churnops.monitor.rules import Rules

    return Rules.from_params(load_params("params.yaml").monitor)


_CHILD = """
import resource, sys, time
t0 = time.perf_counter()
{body}
elapsed = time.perf_counter() - t0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, elapsed)
"""

_CHECK = """
from churnops.core import trainstats
from churnops.monitor.check import check
from churnops.core.params import load_params
from churnops.monitor.rules import Rules
stats = trainstats.load(sys.argv[1])
report = check(sys.argv[2], stats, Rules.from_params(load_params("params.yaml").monitor), 500).report
assert report["lines"] == 500, report
"""

_BASELINE = """
from churnops.core import trainstats
from churnops.monitor.check import check
from churnops.monitor.rules import Rules
stats = trainstats.load(sys.argv[1])
"""

_PANDAS = """
import pandas as pd
df = pd.read_json(sys.argv[2], lines=True)
tail = df.tail(500)
"""


def training_stats_file(path: Path) -> None:
    from churnops.core import trainstats
    from churnops.pipeline.prepare import training_stats
    from tests.utils.factories import labelled_customers

    frame = labelled_customers(200_000, seed=0)
    trainstats.write(path, training_stats(frame))


def block_bytes() -> bytes:
    """10k log lines as the service writes them (compact JSON, one per line)."""
    import orjson

    from churnops.pipeline.generate import traffic_records

    out = bytearray()
    for i, r in enumerate(traffic_records(1, BLOCK_LINES)):
        r = {"ts": "2025-01-01T00:00:00.000000Z", "model_version": "0" * 32, "item": i % 100, **r, "churn": False}
        r["latency_ms"] = 0.123
        out += orjson.dumps(r) + b"\n"
    return bytes(out)


def write_log(path: Path, block: bytes, lines: int) -> None:
    with open(path, "wb") as fh:
        for _ in range(lines // BLOCK_LINES):
            fh.write(block)


def child(body: str, *argv: str) -> tuple[int, float]:
    """Run ``body`` in a fresh interpreter; return its peak RSS (KiB) and elapsed seconds."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD.format(body=body), *argv], capture_output=True, text=True, check=True
    )
    rss, seconds = proc.stdout.split()
    return int(rss), float(seconds)


def time_checks(logs: list[Path], stats: TrainStats, repeats: int) -> list[tuple[float, float, float]]:
    """Per log: median seconds of the full check, of reading the raw last 500 lines, tracemalloc peak MiB.

    The logs are timed in turn within each repeat (interleaved), so a burst of load on the
    shared machine hits them alike and their ratio stays meaningful.
    """
    import tracemalloc

    from churnops.monitor.check import check
    from churnops.monitor.tail import iter_lines_newest_first

    for log in logs:
        check(log, stats, default_rules(), 500)  # warm: imports (scipy) and page cache
    full: list[list[float]] = [[] for _ in logs]
    raw: list[list[float]] = [[] for _ in logs]
    for _ in range(repeats):
        for i, log in enumerate(logs):
            t = time.perf_counter()
            check(log, stats, default_rules(), 500)
            full[i].append(time.perf_counter() - t)
            t = time.perf_counter()
            it = iter_lines_newest_first(log)
            for _, _line in zip(range(500), it, strict=False):
                pass
            it.close()
            raw[i].append(time.perf_counter() - t)
    out = []
    for i, log in enumerate(logs):
        tracemalloc.start()
        check(log, stats, default_rules(), 500)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out.append((statistics.median(full[i]), statistics.median(raw[i]), peak))
    return out


def garbage_block() -> bytes:
    """10k schema-failing lines: a client sending a plan the model never saw."""
    import orjson

    from churnops.pipeline.generate import traffic_records

    out = bytearray()
    for r in traffic_records(2, BLOCK_LINES):
        r = {"ts": "2025-01-02T00:00:00.000000Z", **r}
        r["features"]["plan"] = "enterprise"
        out += orjson.dumps(r) + b"\n"
    return bytes(out)


def garbage_tail(tmp: Path, block: bytes, stats: TrainStats, lines: int, repeats: int) -> None:
    """Print the check's time on a clean log and on the same log with a garbage tail."""
    clean, dirty = tmp / "clean.jsonl", tmp / "garbage_tail.jsonl"
    write_log(clean, block, lines)
    write_log(dirty, block, lines)
    bad = garbage_block()
    with open(dirty, "ab") as fh:
        for _ in range(lines // BLOCK_LINES):
            fh.write(bad)
    from churnops.monitor.check import check

    rows = []
    named = ((f"{lines // 1000}k clean lines", clean), (f"same + {lines // 1000}k garbage lines", dirty))
    timed = time_checks([clean, dirty], stats, repeats)
    for (name, log), (full, _, peak) in zip(named, timed, strict=True):
        report = check(log, stats, default_rules(), 500).report
        rows.append((name, log.stat().st_size, full, peak, report["status"], report["invalid_fraction"]))
    print("| log | size | monitor, last_n=500 (ms) | tracemalloc peak (MiB) | status | invalid fraction |")
    print("|---|---:|---:|---:|---|---:|")
    for name, size, full, peak, status, frac in rows:
        print(f"| {name} | {size / 2**20:,.0f} MiB | {full * 1e3:.2f} | {peak:.2f} | {status} | {frac:.0%} |")
    print(f"| ratio garbage tail / clean | | **{rows[1][2] / rows[0][2]:.2f}x** | {rows[1][3] / rows[0][3]:.2f}x | | |")


def detection_delay(stats: TrainStats, last_n: int, trials: int, shift_sd: float = -0.5) -> dict[str, float]:
    """Median new lines after a sudden shift until status ``drift`` (and until tenure is flagged)."""
    import orjson

    from churnops.monitor.quality import quality_report, summarize
    from churnops.monitor.records import parse_line
    from churnops.monitor.verdict import drift_report
    from churnops.pipeline.generate import traffic_records

    rules = default_rules()
    shift = {"tenure_months": shift_sd * stats.numeric["tenure_months"].std}
    delays, tenure_delays, already = [], [], 0
    for seed in range(trials):
        before = [parse_line(orjson.dumps(r)) for r in traffic_records(1000 + seed, last_n)]
        after = [parse_line(orjson.dumps(r)) for r in traffic_records(5000 + seed, last_n, shift=shift)]
        lines = before + after

        def status(k: int, lines: list[Entry] = lines) -> dict[str, Any]:
            window = lines[k : k + last_n]
            cols, counts = summarize(window)
            return drift_report(cols, stats, rules, last_n, quality=quality_report(counts, rules.max_invalid_fraction))

        if status(0)["status"] == "drift":
            already += 1
            continue
        first = tenure = None
        for k in range(1, last_n + 1):
            report = status(k)
            if first is None and report["status"] == "drift":
                first = k
            if report["features"]["tenure_months"]["drifted"]:
                tenure = k
                break
        delays.append(first if first is not None else last_n + 1)
        tenure_delays.append(tenure if tenure is not None else last_n + 1)
    return {
        "trials": trials,
        "already": already,
        "median": statistics.median(delays),
        "p90": sorted(delays)[int(0.9 * (len(delays) - 1))],
        "tenure_median": statistics.median(tenure_delays),
        "tenure_p90": sorted(tenure_delays)[int(0.9 * (len(tenure_delays) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-lines", type=int, default=5_000_000)
    parser.add_argument("--pandas-lines", type=int, default=200_000)
    parser.add_argument("--garbage-lines", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--delay-trials", type=int, default=50, help="0 skips the detection-delay table")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run: checks the bench still works end to end",
    )
    args = parser.parse_args()
    if args.smoke:
        args.big_lines, args.pandas_lines, args.garbage_lines, args.repeats, args.delay_trials = (
            20_000,
            2_000,
            2_000,
            1,
            2,
        )

    tmp = Path(tempfile.mkdtemp(prefix="churnops-bench-monitor-"))
    try:
        block = block_bytes()
        need = len(block) * (args.big_lines + args.pandas_lines) // BLOCK_LINES * 1.1
        free = shutil.disk_usage(tmp).free
        if free < need:
            sys.exit(f"bench/monitor.py: {tmp} has {free / 2**30:.1f} GiB free, needs {need / 2**30:.1f} GiB")
        from churnops.core import trainstats

        stats_path = tmp / "train_stats.json"
        training_stats_file(stats_path)
        stats = trainstats.load(stats_path)
        logs = {"10k": tmp / "small.jsonl", f"{args.big_lines / 1e6:g}M": tmp / "big.jsonl"}
        write_log(logs["10k"], block, BLOCK_LINES)
        t = time.perf_counter()
        write_log(logs[f"{args.big_lines / 1e6:g}M"], block, args.big_lines)
        build = time.perf_counter() - t

        base_rss, _ = child(_BASELINE, str(stats_path))
        rows = []
        timed = time_checks(list(logs.values()), stats, args.repeats)
        for (name, log), (full, raw, peak) in zip(logs.items(), timed, strict=True):
            rss, _ = child(_CHECK, str(stats_path), str(log))
            rows.append((name, log.stat().st_size, full, raw, peak, rss))

        pandas_log = tmp / "pandas.jsonl"
        write_log(pandas_log, block, args.pandas_lines)
        pd_rss, pd_seconds = child(_PANDAS, str(stats_path), str(pandas_log))
        factor = args.big_lines / args.pandas_lines

        print(
            f"Log lines ~{len(block) / BLOCK_LINES:.0f} bytes each; {args.repeats} repeats, median; "
            f"big log built in {build:.1f} s."
        )
        print()
        print(
            "| log | size | monitor, last_n=500 (ms) | raw last 500 lines (ms) | tracemalloc peak (MiB) "
            "| process peak RSS (MiB) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for name, size, full, raw, peak, rss in rows:
            print(
                f"| {name} lines | {size / 2**20:,.0f} MiB | {full * 1e3:.2f} | {raw * 1e3:.3f} | {peak:.2f} "
                f"| {rss / 1024:.0f} |"
            )
        (s_name, _, s_full, s_raw, s_peak, s_rss), (b_name, _, b_full, b_raw, b_peak, b_rss) = rows
        print(
            f"| ratio {b_name}/{s_name} | | **{b_full / s_full:.2f}x** | {b_raw / s_raw:.2f}x | {b_peak / s_peak:.2f}x "
            f"| {b_rss / s_rss:.2f}x |"
        )
        print()
        print(f"Interpreter with churnops.monitor imported, before any check: {base_rss / 1024:.0f} MiB peak RSS.")
        print()
        print("| pandas read_json(lines=True) | lines | seconds | process peak RSS (MiB) |")
        print("|---|---:|---:|---:|")
        print(f"| measured | {args.pandas_lines:,} | {pd_seconds:.2f} | {pd_rss / 1024:,.0f} |")
        print(
            f"| linear extrapolation (x{factor:g}), not measured | {args.big_lines:,} | ~{pd_seconds * factor:.0f} "
            f"| ~{pd_rss / 1024 * factor:,.0f} |"
        )
        print()
        garbage_tail(tmp, block, stats, args.garbage_lines, args.repeats)
        if not args.delay_trials:
            return
        print()
        print(
            f"Detection delay after a sudden -0.5 sd shift of tenure_months ({args.delay_trials} seeds; "
            "new lines until the window's status is drift, and until tenure_months itself is flagged):"
        )
        print()
        print("| last_n | median lines to `drift` | p90 | median lines to tenure flagged | p90 | already in alarm |")
        print("|---:|---:|---:|---:|---:|---:|")
        for last_n in (200, 500):
            d = detection_delay(stats, last_n, args.delay_trials)
            print(
                f"| {last_n} | {d['median']:g} | {d['p90']:g} | {d['tenure_median']:g} | {d['tenure_p90']:g} "
                f"| {d['already']} of {d['trials']} |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
