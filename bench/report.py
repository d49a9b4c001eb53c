"""``churnops report`` on served traffic: estimated F1 against realized F1 per day, and its speed.

Serves a model (trained in-process, as ``bench/serve.py`` does) from a temporary repository,
sends one "day" of customers per ``churnops simulate`` run (with their labels): plain days, a
covariate-shift day (``--shift tenure_months=-24``) and a concept-shift day
(``--tenure-effect 0``). ``churnops report --chunk ROWS`` makes each day one chunk. Prints per
day the estimated F1 (CBPE) and its interval, the realized F1, their difference and what drift
fired; then the time of the report on a long log (the served lines repeated) beside
``churnops monitor`` on the same file.

    python bench/report.py            # 5 days of 20,000 customers; a 10M-line log (~3 GB in /tmp)
    python bench/report.py --smoke    # 2 days of 1,000; a 50k-line log
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAYS = [("plain", []), ("covariate shift", ["--shift", "tenure_months=-24"]), ("plain", []),
        ("concept shift", ["--tenure-effect", "0"]), ("plain", [])]  # fmt: skip


def sh(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MB."""
    t0 = time.perf_counter()
    sh(args, cwd)
    seconds = time.perf_counter() - t0
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run (2 days of 1,000, a 50k-line log)")
    parser.add_argument("--rows", type=int, help="customers per day (default 20,000; smoke 1,000)")
    parser.add_argument("--lines", type=int, help="lines of the speed log (default 10M; smoke 50k)")
    args = parser.parse_args()
    rows = args.rows or (1_000 if args.smoke else 20_000)
    lines = args.lines or (50_000 if args.smoke else 10_000_000)
    days = [DAYS[1], DAYS[3]] if args.smoke else DAYS
    from bench.serve import build_repo
    from tests.utils.server import free_port, running

    churnops = str(Path(sys.executable).parent / "churnops")
    with tempfile.TemporaryDirectory(prefix="churnops-report-") as tmp:
        repo = Path(tmp) / "repo"
        cwd = os.getcwd()
        os.chdir(ROOT)
        build_repo(repo, rows=5_000 if args.smoke else 20_000)
        os.chdir(cwd)
        for rel in ("params.yaml", "data/prepared/train_stats.json", "data/prepared/test.parquet",
                    ".dvc/plots/index.html", ".dvc/plots/assets.json"):  # fmt: skip
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, repo / rel)
        log, labels = Path(tmp) / "predictions.jsonl", Path(tmp) / "labels.csv"
        port = free_port()
        cmd = [churnops, "serve", "--repo", str(repo), "--port", str(port), "--log-path", str(log),
               "--max-log-bytes", str(10**10)]  # fmt: skip
        with running(cmd, f"http://127.0.0.1:{port}/health", Path(tmp) / "serve.out", env=dict(os.environ)):
            parts = []
            for i, (_, flags) in enumerate(days):
                out = Path(tmp) / f"labels-{i}.csv"
                sh([churnops, "simulate", "--url", f"http://127.0.0.1:{port}", "--rows", str(rows), "--seed",
                    str(100 + i), "--labels-out", str(out), *flags], Path(tmp))  # fmt: skip
                parts.append(out.read_text().splitlines(keepends=True))
            time.sleep(1.0)  # the log writer flushes in the background
        labels.write_text("".join([parts[0][0], *(line for p in parts for line in p[1:])]))
        sh([churnops, "report", "--repo", str(repo), "--log", str(log), "--labels", str(labels), "--chunk",
            str(rows), "-o", str(Path(tmp) / "report.html"), "--json", str(Path(tmp) / "report.json")], Path(tmp))  # fmt: skip
        report: dict[str, Any] = json.loads((Path(tmp) / "report.json").read_text())
        print(f"calibration: {report['cbpe']['message']}")
        print()
        print(
            "| day | traffic | estimated F1 (CBPE) | 95% interval | realized F1 | realized - estimated | within | drift fired |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for i, ((name, _), c) in enumerate(zip(days, report["chunks"], strict=False)):
            inside = c["estimated_low"] <= c["realized_f1"] <= c["estimated_high"]
            print(f"| {i + 1} | {name} | {c['estimated_f1']:.3f} | {c['estimated_low']:.3f}-{c['estimated_high']:.3f} "
                  f"| {c['realized_f1']:.3f} | {c['realized_f1'] - c['estimated_f1']:+.3f} | {'yes' if inside else 'NO'} "
                  f"| {', '.join(c['flagged']) or '-'} |")  # fmt: skip
        served = log.read_bytes()
        log.unlink()
        big = Path(tmp) / "big.jsonl"
        n_served = served.count(b"\n")
        with big.open("wb") as fh:
            for _ in range(lines // n_served):
                fh.write(served)
            rest = lines % n_served
            fh.write(b"".join(served.splitlines(keepends=True)[:rest]))
        size = big.stat().st_size
        report_s, report_rss = timed([churnops, "report", "--repo", str(repo), "--log", str(big), "--chunk", "1h",
                                      "-o", str(Path(tmp) / "big.html")], Path(tmp))  # fmt: skip
        monitor_s, _ = timed([churnops, "monitor", "--repo", str(repo), "--log", str(big)], Path(tmp))
        print()
        print("| command | lines | file | seconds | lines/s | peak RSS |")
        print("|---|---|---|---|---|---|")
        print(f"| churnops report --chunk 1h | {lines:,} | {size / 1e9:.2f} GB | {report_s:.1f} | {lines / report_s:,.0f} "
              f"| {report_rss:.0f} MB |")  # fmt: skip
        print(f"| churnops monitor (last_n lines) | {lines:,} | {size / 1e9:.2f} GB | {monitor_s:.1f} | - | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
