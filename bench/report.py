"""``churnops report`` on served traffic: estimated against realized F1 per day, and its speed.

Serves a model trained in-process (``bench/serve.py``'s ``build_repo``) from a temporary
repository that also holds that model's own training statistics, so drift is judged against
the data the served model learned from. Sends one "day" of customers per ``churnops simulate``
run (with their labels): plain days, a covariate-shift day (``--shift tenure_months=-24``) and
a concept-shift day (``--tenure-effect 0``). ``churnops report --chunk ROWS`` makes each day
one chunk. Prints per day the estimated F1 (CBPE), its interval, the realized F1, their
difference and which drift rules fired; then the report's wall time, CPU time and peak RSS
on long logs (the served lines repeated) beside ``churnops monitor`` on the same file.

    python bench/report.py            # 5 days of 20,000; logs of 1M and 10M lines (~3.6 GB in /tmp)
    python bench/report.py --smoke    # the concept-shift day of 500; a 20k-line log
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests.utils: the server runner, the labelled-frame factory
    sys.path.insert(0, str(ROOT))

from serve import build_repo  # noqa: E402  (bench/ is the script's own folder)

from churnops.core import paths  # noqa: E402
from tests.utils.factories import labelled_customers  # noqa: E402
from tests.utils.server import free_port, running  # noqa: E402

DAYS = [
    ("plain", []),
    ("covariate shift", ["--shift", "tenure_months=-24"]),
    ("plain", []),
    ("concept shift", ["--tenure-effect", "0"]),
    ("plain", []),
]
CHURNOPS = str(Path(sys.executable).parent / "churnops")


def sh(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def timed(args: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS in MB of that one process.

    The peak is the child's own ``VmHWM``, read while it runs: ``ru_maxrss`` would report this
    bench's own size (its model training), which the child inherits across ``exec``.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            text = Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, float(text.split("VmHWM:")[1].split()[0]) / 1024)
        except (OSError, IndexError):
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"{' '.join(args)} failed:\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, peak


def project(repo: Path, train_rows: int) -> None:
    """A served repository with what the report reads: params, the model's own training
    statistics, a test set from the same generator (calibration) and the offline plot assets."""
    build_repo(repo, rows=train_rows)
    labelled_customers(5_000, seed=1).to_parquet(repo / paths.TEST_SET)
    for rel in (paths.PARAMS, ".dvc/plots/index.html", ".dvc/plots/assets.json"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, repo / rel)


def serve_days(repo: Path, tmp: Path, days: list[tuple[str, list[str]]], rows: int) -> tuple[Path, Path]:
    """The served log and the labels of every day's customers."""
    log, labels = tmp / "predictions.jsonl", tmp / "labels.csv"
    port = free_port()
    cmd = [CHURNOPS, "serve", "--repo", str(repo), "--port", str(port), "--log-path", str(log)]
    cmd += ["--max-log-bytes", str(10**10)]
    parts = []
    with running(cmd, f"http://127.0.0.1:{port}/health", tmp / "serve.out", env=dict(os.environ)):
        for i, (_, flags) in enumerate(days):
            out = tmp / f"labels-{i}.csv"
            args = ["simulate", "--url", f"http://127.0.0.1:{port}", "--rows", str(rows), "--seed", str(100 + i)]
            sh([CHURNOPS, *args, "--labels-out", str(out), *flags], tmp)
            parts.append(out.read_text().splitlines(keepends=True))
        deadline = time.monotonic() + 30  # the log writer flushes in the background
        while time.monotonic() < deadline and (not log.exists() or log.read_bytes().count(b"\n") < rows * len(days)):
            time.sleep(0.1)
    labels.write_text("".join([parts[0][0], *(line for p in parts for line in p[1:])]))
    return log, labels


def accuracy_table(
    repo: Path, tmp: Path, log: Path, labels: Path, days: list[tuple[str, list[str]]], rows: int
) -> None:
    out = tmp / "report.json"
    args = ["report", "--repo", str(repo), "--log", str(log), "--labels", str(labels), "--chunk", str(rows)]
    sh([CHURNOPS, *args, "-o", str(tmp / "report.html"), "--json", str(out)], tmp)
    report: dict[str, Any] = json.loads(out.read_text())
    print(f"{report['cbpe']['message']}; reference: the served model's own training statistics")
    print()
    print(
        "| day | traffic | estimated F1 (CBPE) | 95% interval | realized F1 | difference | in interval | drift fired |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for i, ((name, _), c) in enumerate(zip(days, report["chunks"], strict=True)):
        est, real = c["estimated_f1"], c["realized_f1"]
        inside = c["estimated_low"] <= real <= c["estimated_high"]
        print(
            f"| {i + 1} | {name} | {est:.3f} | {c['estimated_low']:.3f}-{c['estimated_high']:.3f} | {real:.3f} "
            f"| {real - est:+.3f} | {'yes' if inside else 'no'} | {', '.join(c['flagged']) or 'none'} |"
        )


def speed_table(repo: Path, tmp: Path, served: bytes, sizes: list[int]) -> None:
    print()
    print("| command | lines | file | wall s | CPU s | lines per CPU s | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    lines_served = served.splitlines(keepends=True)
    for lines in sizes:
        big = tmp / "big.jsonl"
        with big.open("wb") as fh:
            for _ in range(lines // len(lines_served)):
                fh.write(served)
            fh.write(b"".join(lines_served[: lines % len(lines_served)]))
        size = f"{big.stat().st_size / 1e9:.2f} GB"
        report = [
            CHURNOPS,
            "report",
            "--repo",
            str(repo),
            "--log",
            str(big),
            "--chunk",
            "1h",
            "-o",
            str(tmp / "b.html"),
        ]
        for name, cmd in (
            ("churnops report --chunk 1h", report),
            ("churnops monitor (its last_n lines)", [CHURNOPS, "monitor", "--repo", str(repo), "--log", str(big)]),
        ):
            wall, cpu, rss = timed(cmd, tmp)
            print(f"| {name} | {lines:,} | {size} | {wall:.1f} | {cpu:.1f} | {lines / cpu:,.0f} | {rss:.0f} MB |")
        big.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run (one day of 500, a 20k-line log)")
    parser.add_argument("--rows", type=int, help="customers per day (default 20,000; smoke 500)")
    parser.add_argument("--lines", type=int, nargs="+", help="lines of the speed logs (default 1M 10M; smoke 20k)")
    args = parser.parse_args()
    rows = args.rows or (500 if args.smoke else 20_000)
    sizes = args.lines or ([20_000] if args.smoke else [1_000_000, 10_000_000])
    days = [DAYS[3]] if args.smoke else DAYS
    with tempfile.TemporaryDirectory(prefix="churnops-report-") as name:
        tmp = Path(name)
        repo = tmp / "repo"
        project(repo, train_rows=3_000 if args.smoke else 200_000)
        log, labels = serve_days(repo, tmp, days, rows)
        accuracy_table(repo, tmp, log, labels, days, rows)
        speed_table(repo, tmp, log.read_bytes(), sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
