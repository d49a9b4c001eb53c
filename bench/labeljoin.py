"""Benchmark: the label join (``churnops feedback``) against a naive pandas join and DuckDB.

Writes a prediction log of ``--lines`` lines as the service writes them
(:func:`churnops.core.logformat.encode`: single rows and 10-row batches, every row naming a
customer, ~5 predictions per customer, two model versions) and ``--labels`` labels: most for
predicted customers (observed weeks after the log, or without ``observed_at``, or in its
middle), some for customers never predicted and some observed before the log began.

Each join runs in its own process, side by side in one run, at each size; wall time from
spawn to exit, the process's CPU time (user + system: on a shared machine, less noisy than
wall time) and its peak RSS (``os.wait4``):

- ``stream``: ``churnops feedback --log LOG --labels LABELS --out REPORT`` (the command's code path);
- ``before``: the join as first written, the whole log per customer in memory
  (tests/utils/labeljoin_reference.py);
- ``pandas``: ``read_json(lines=True)``, each label's newest row not after ``observed_at``, merge;
- ``duckdb`` (if installed; one thread, a 200 MB memory limit, insertion order not kept): the
  log filtered to labeled customers as ``read_ndjson`` reads it, then per (customer,
  ``observed_at``) the decision with the latest eligible ``ts`` (``arg_max``), joined to the labels.

Requests have distinct ``ts`` and a batch names distinct customers, so the newest prediction
is the one with the latest ``ts``, and the three agree without the log position. Their F1 and
joined counts must agree (to 1e-9), or the bench fails. Pandas and the old join are skipped
above ``--pandas-max-lines`` (they need ~3.5 and ~1.1 GB per million lines).

Prints a markdown table. Everything it writes goes to a temporary directory, removed at the end.

    .venv/bin/python bench/labeljoin.py [--lines 1000000 10000000] [--labels 200000] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ("a" * 32, "b" * 32)
T0 = 1_790_000_000.0  # 2026-09-21
STEP = 0.01  # seconds between requests: every request has its own ts
WEEKS = 21 * 86_400.0
PLANS, REGIONS = ("basic", "standard", "premium"), ("north", "south", "east", "west")

_STREAM = """
from churnops.cli import main
sys.exit(main(["feedback", "--log", sys.argv[1], "--labels", sys.argv[2], "--out", sys.argv[3],
               "--params", sys.argv[4]]))
"""

_RESULT = """
import json
from churnops.pipeline.classification import Counts
y, pred = joined["churn"].to_numpy().astype(int), joined["predicted"].to_numpy().astype(int)
json.dump({"f1": Counts.of(y, pred).f1, "n_labeled": len(joined)}, open(sys.argv[3], "w"))
"""

_PANDAS = (
    """
import pandas as pd
log = pd.read_json(sys.argv[1], lines=True)
labels = pd.read_csv(sys.argv[2], dtype={"customer_id": str, "observed_at": str})
log = log[log["customer_id"].notna()]
log = pd.DataFrame({"customer_id": log["customer_id"], "ts": log["ts"].astype(str), "predicted": log["churn"]})
labels["label"] = range(len(labels))
both = labels.merge(log, on="customer_id")
both = both[both["observed_at"].isna() | (both["ts"] <= both["observed_at"])]
joined = both.sort_values("ts", kind="stable").groupby("label").tail(1)
"""
    + _RESULT
)

_DUCKDB = (
    """
import duckdb
con = duckdb.connect(config={"threads": 1, "memory_limit": "200MB", "preserve_insertion_order": False})
joined = con.execute('''
    WITH labels AS (SELECT * FROM read_csv(?, header = true,
            columns = {customer_id: 'VARCHAR', churn: 'INTEGER', observed_at: 'VARCHAR'})),
    slots AS (SELECT DISTINCT customer_id, observed_at FROM labels),
    log AS (SELECT customer_id, ts, churn AS predicted
        FROM read_ndjson(?, columns = {ts: 'VARCHAR', customer_id: 'VARCHAR', churn: 'BOOLEAN'})
        WHERE customer_id IN (SELECT customer_id FROM slots)),
    best AS (SELECT s.customer_id, s.observed_at, arg_max(l.predicted, l.ts) AS predicted
        FROM slots s JOIN log l USING (customer_id)
        WHERE s.observed_at IS NULL OR l.ts <= s.observed_at
        GROUP BY s.customer_id, s.observed_at)
    SELECT labels.churn, best.predicted FROM labels JOIN best ON best.customer_id = labels.customer_id
        AND best.observed_at IS NOT DISTINCT FROM labels.observed_at
''', [sys.argv[2], sys.argv[1]]).df()
"""
    + _RESULT
)

_BEFORE = (
    """
from churnops.pipeline.labeljoin import read_labels
from tests.utils import labeljoin_reference as ref
from churnops.core.logformat import log_files
lines = (line for file in reversed(log_files(sys.argv[1])) for line in open(file, "rb"))
joined, _ = ref.join(read_labels(sys.argv[2]).labels, ref.read_log(lines))
"""
    + _RESULT
)

_CHILD = "import sys\nsys.path.insert(0, {root!r})\n{body}"


def customer(rng: random.Random) -> dict[str, object]:
    return {
        "tenure_months": rng.randrange(72),
        "num_complaints": rng.randrange(6),
        "avg_session_minutes": round(rng.uniform(1, 60), 1),
        "plan": rng.choice(PLANS),
        "region": rng.choice(REGIONS),
    }


def write_log(path: Path, lines: int, seed: int = 0) -> int:
    """``lines`` prediction lines; returns the number of customers (ids ``c-0`` ...)."""
    from churnops.core.logformat import BatchEntry, RowEntry, encode

    rng = random.Random(seed)
    customers = max(1, lines // 5)
    profiles = [customer(rng) for _ in range(1000)]
    written, request = 0, 0
    with open(path, "wb") as fh:
        out: list[bytes] = []
        while written < lines:
            ts = T0 + request * STEP
            version = VERSIONS[written * 2 // lines]
            n = min(10 if request % 5 == 0 else 1, lines - written)
            ids = [f"c-{i}" for i in rng.sample(range(customers), n)] if customers >= n else [None] * n
            feats = [rng.choice(profiles) for _ in range(n)]
            probs = [rng.random() for _ in range(n)]
            churn = [p >= 0.5 for p in probs]
            if n == 1:
                out.append(encode(RowEntry(ts, f"r{request}", version, feats[0], probs[0], churn[0], 0.3, ids[0])))
            else:
                out.append(encode(BatchEntry(ts, f"r{request}", version, feats, probs, churn, 0.8, ids)))
            written += n
            request += 1
            if len(out) >= 5000:
                fh.write(b"".join(out))
                out = []
        fh.write(b"".join(out))
    return customers


def write_labels(path: Path, n: int, customers: int, lines: int, seed: int = 1) -> None:
    """``n`` labels: 95 % for predicted customers, 2.5 % never predicted, 2.5 % observed before the log."""
    from churnops.core.logformat import rfc3339

    rng = random.Random(seed)
    known = rng.sample(range(customers), min(customers, n * 95 // 100))
    end = T0 + lines * STEP
    rows = ["customer_id,churn,observed_at"]
    for c in known:
        r = rng.random()
        observed = "" if r < 0.3 else rfc3339(end + WEEKS) if r < 0.9 else rfc3339(T0 + rng.random() * (end - T0))
        rows.append(f"c-{c},{int(rng.random() < 0.3)},{observed}")
    rest = n - len(known)
    for i in range(rest // 2):
        rows.append(f"never-{i},{int(rng.random() < 0.3)},{rfc3339(end + WEEKS)}")
    for c in rng.choices(range(customers), k=rest - rest // 2):
        rows.append(f"c-{c},{int(rng.random() < 0.3)},{rfc3339(T0 - WEEKS)}")
    path.write_text("\n".join(rows) + "\n")


def child(body: str, *argv: str) -> tuple[float, float, float]:
    """Run ``body`` in a fresh interpreter: (wall seconds spawn to exit, CPU seconds, peak RSS MiB)."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(root=str(ROOT), body=body), *argv], cwd=ROOT, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench/labeljoin.py: a join exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def has_duckdb() -> bool:
    import importlib.util

    return importlib.util.find_spec("duckdb") is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--labels", type=int, default=200_000)
    parser.add_argument("--pandas-max-lines", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="10k lines, 2k labels: does it run")
    args = parser.parse_args()
    if args.smoke:
        args.lines, args.labels = [10_000], 2_000
    methods = {"stream": _STREAM, "before": _BEFORE, "pandas": _PANDAS, **({"duckdb": _DUCKDB} if has_duckdb() else {})}
    tmp = Path(tempfile.mkdtemp(prefix="bench-labeljoin-"))
    rows: list[tuple[int, str, float | None, float | None, float | None, str, int | None]] = []
    try:
        params = tmp / "params.yaml"
        shutil.copy(ROOT / "params.yaml", params)
        for lines in args.lines:
            log, labels = tmp / "predictions.jsonl", tmp / "labels.csv"
            customers = write_log(log, lines)
            write_labels(labels, args.labels, customers, lines)
            results = {}
            for name, body in methods.items():
                if name in ("pandas", "before") and lines > args.pandas_max_lines:
                    rows.append((lines, name, None, None, None, "skipped (~1-3.5 GB per 1M lines)", None))
                    continue
                out = tmp / f"{name}.json"
                wall, cpu, rss = child(body, str(log), str(labels), str(out), str(params))
                got = json.loads(out.read_text())
                results[name] = got
                rows.append((lines, name, wall, cpu, rss, f"{got['f1']:.6f}", got["n_labeled"]))
            ref = results["stream"]
            for name, got in results.items():
                if abs(got["f1"] - ref["f1"]) > 1e-9 or got["n_labeled"] != ref["n_labeled"]:
                    raise SystemExit(f"bench/labeljoin.py: {name} disagrees with stream: {got} vs {ref}")
            log.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nlabels: {args.labels:,}; load average at end {os.getloadavg()[0]:.1f}\n")
    print("| log lines | join | wall s | CPU s | peak RSS MiB | F1 | joined |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for lines, name, took, used, peak, f1, n in rows:
        cells = [f"{x:.2f}" if x is not None else "-" for x in (took, used)] + [f"{peak:.0f}" if peak else "-"]
        print(f"| {lines:,} | {name} | {' | '.join(cells)} | {f1} | {n if n is not None else '-'} |")
    stream = [(lines, used, peak) for lines, name, _, used, peak, _, _ in rows if name == "stream" and used and peak]
    if len(stream) > 1:
        (l0, c0, r0), (l1, c1, r1) = stream[0], stream[-1]
        print(
            f"\nstream, {l1:,} vs {l0:,} lines: CPU time {c1 / c0:.2f}x (lines {l1 / l0:.0f}x), peak RSS {r1 / r0:.2f}x"
        )


if __name__ == "__main__":
    main()
