"""``churnops report`` on served traffic: estimated against realized F1 per day, and its speed.

Serves a model trained in-process (``bench/serve.py``'s ``build_repo``) from a temporary
repository that also holds that model's own training statistics, so drift is judged against
the data the served model learned from. Sends one "day" of customers per ``churnops simulate``
run (with their labels): plain days, a covariate-shift day (``--shift tenure_months=-24``) and
a concept-shift day (``--tenure-effect 0``). ``churnops report --chunk ROWS`` makes each day
one chunk. Prints per day the estimated F1 (CBPE), its interval, the realized F1, their
difference and which drift rules fired; then the report's wall time, CPU time and peak RSS
on long logs (the served lines repeated) beside ``churnops monitor`` on the same file.

``--screenshot PATH`` instead renders the page of a small demo to PNG with headless Chromium
(no network): the README's image. Its five days (:data:`DEMO`) add, to the same kinds of
traffic, a registry history inside them (a second model promoted, then a rollback, committed
at those times) and rejected requests (an unknown plan), so every chart has something to show.
The service stamps lines with the wall clock: each stretch's lines are mapped, in order, onto
its hours of the demo's calendar, and served by the model that was prod at those hours.

    python bench/report.py            # 5 days of 20,000; logs of 1M and 10M lines (~3.6 GB in /tmp)
    python bench/report.py --smoke    # the concept-shift day of 500; a 20k-line log
    python bench/report.py --screenshot docs/img/report.png   # the demo's page as a 1100x1400 PNG
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests.utils: the server runner, the labelled-frame factory
    sys.path.insert(0, str(ROOT))

from serve import build_repo  # noqa: E402  (bench/ is the script's own folder)

from churnops.core import logformat, paths  # noqa: E402
from tests.utils.browser import CHROMIUM, render_offline  # noqa: E402
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


class Stretch(NamedTuple):
    """Some hours of one demo day: the traffic sent, the model in prod, the share of rejected requests."""

    day: int
    start_h: int
    end_h: int
    flags: list[str]
    version: str
    rejected: float


DEMO_DAY0 = datetime(2026, 9, 21, tzinfo=UTC)
DEMO = [
    Stretch(0, 0, 24, [], "a", 0.004),
    Stretch(1, 0, 24, ["--shift", "tenure_months=-24"], "a", 0.008),
    Stretch(2, 0, 10, [], "a", 0.01),
    Stretch(2, 10, 24, [], "b", 0.1),  # b promoted at 10:00; a client starts sending an unknown plan
    Stretch(3, 0, 15, ["--tenure-effect", "0"], "b", 0.01),
    Stretch(3, 15, 24, ["--tenure-effect", "0"], "a", 0.004),  # rolled back at 15:00: no help, the concept moved
    Stretch(4, 0, 24, [], "a", 0.004),
]
DEMO_PROD_SINCE = DEMO_DAY0 - timedelta(hours=12)  # a was prod before the demo starts
BAD_CUSTOMER = {"tenure_months": 14, "num_complaints": 2, "avg_session_minutes": 21.5, "plan": "enterprise"}
BAD_CUSTOMER |= {"region": "south"}


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


@contextlib.contextmanager
def committed_at(when: datetime) -> Iterator[None]:
    """Git commits made inside (the registry's, the demo's builds) carry ``when`` as their dates."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    saved = {k: os.environ.get(k) for k in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")}
    os.environ.update(dict.fromkeys(saved, stamp))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def reject(url: str, n: int) -> None:
    """``n`` requests the service refuses (422), each logged as one rejection line."""
    body = json.dumps(BAD_CUSTOMER).encode()
    for _ in range(n):
        req = urllib.request.Request(f"{url}/predict", body, {"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=30).close()
        except urllib.error.HTTPError as err:
            if err.code != 422:
                sys.exit(f"a bad customer got HTTP {err.code}, expected 422")
        else:
            sys.exit("a bad customer was accepted, expected 422")


def log_lines(log: Path) -> int:
    return log.read_bytes().count(b"\n") if log.exists() else 0


def demo_repo(repo: Path, train_rows: int) -> dict[str, tuple[str, str]]:
    """The project with two models built (a prod since before the demo, b only built): version -> (md5, commit)."""
    from churnops.core.params import load_params
    from churnops.pipeline.export import export_model
    from churnops.pipeline.scorer import md5_bytes, model_bytes
    from churnops.pipeline.train import train
    from tests.utils.service import Trained, build, git

    with committed_at(DEMO_PROD_SINCE):
        project(repo, train_rows)
    a = (repo / "models" / "model.json").read_bytes()
    versions = {"a": (md5_bytes(a), git(repo, "rev-parse", "HEAD"))}
    params = load_params(ROOT / paths.PARAMS).train
    result = train(labelled_customers(train_rows, seed=7), params)  # the same recipe on newer customers
    data = model_bytes(export_model(result.pipeline, params.threshold))
    with committed_at(DEMO_PROD_SINCE + timedelta(days=2)):
        versions["b"] = (md5_bytes(data), build(repo, Trained(params, result, data, md5_bytes(data))))
    (repo / "models" / "model.json").write_bytes(a)  # the calibration is prod's (a's) at the end
    return versions


def move_prod(repo: Path, action: str, version: tuple[str, str], when: datetime) -> None:
    from churnops.versioning import registry

    md5, commit = version
    with committed_at(when):
        change = registry.Change(action, registry.PROD, registry.Entry(md5, commit), subject=f"{action} {md5[:12]}")
        registry.write(repo, change, expect=registry.read(repo))


def serve_demo(repo: Path, tmp: Path, rows: int, versions: dict[str, tuple[str, str]]) -> tuple[Path, Path]:
    """Each run of stretches served by its model; prod moved between runs at the stretch's start;
    then every stretch's lines re-stamped onto its hours. The log and the labels."""
    log, labels = tmp / "predictions.jsonl", tmp / "labels.csv"
    spans: list[tuple[int, int, Stretch]] = []
    parts: list[list[str]] = []
    runs: list[list[Stretch]] = []
    for s in DEMO:
        if runs and runs[-1][-1].version == s.version:
            runs[-1].append(s)
        else:
            runs.append([s])
    for r, run in enumerate(runs):
        if r:
            first = run[0]
            when = DEMO_DAY0 + timedelta(days=first.day, hours=first.start_h)
            back = any(earlier[0].version == first.version for earlier in runs[:r])  # prod returns to it
            move_prod(repo, "rollback" if back else "promote", versions[first.version], when)
        port = free_port()
        cmd = [CHURNOPS, "serve", "--repo", str(repo), "--port", str(port), "--log-path", str(log)]
        url = f"http://127.0.0.1:{port}"
        with running(cmd, f"{url}/health", tmp / f"serve-{r}.out", env=dict(os.environ)):
            for s in run:
                n = max(1, round(rows * (s.end_h - s.start_h) / 24))
                bad = round(n * s.rejected / (1 - s.rejected))
                before = log_lines(log)
                out = tmp / f"labels-{len(parts)}.csv"
                args = ["simulate", "--url", url, "--rows", str(n), "--seed", str(400 + len(parts)), "--batch", "100"]
                sh([CHURNOPS, *args, "--labels-out", str(out), *s.flags], tmp)
                reject(url, bad)
                parts.append(out.read_text().splitlines(keepends=True))
                deadline = time.monotonic() + 30  # the log writer flushes in the background
                while time.monotonic() < deadline and log_lines(log) < before + n + bad:
                    time.sleep(0.05)
                spans.append((before, log_lines(log), s))
    restamp(log, spans)
    labels.write_text("".join([parts[0][0], *(line for p in parts for line in p[1:])]))
    return log, labels


def restamp(log: Path, spans: list[tuple[int, int, Stretch]]) -> None:
    """Map each stretch's wall-clock stamps linearly onto its hours: order and batches kept."""
    import orjson

    lines = log.read_bytes().splitlines(keepends=True)
    out = []
    for lo, hi, s in spans:
        docs = [orjson.loads(x) for x in lines[lo:hi]]
        wall = [datetime.fromisoformat(d[logformat.TS]).timestamp() for d in docs]
        t0 = (DEMO_DAY0 + timedelta(days=s.day, hours=s.start_h)).timestamp()
        length = (s.end_h - s.start_h) * 3600 * 0.999  # strictly inside the stretch
        first, span = wall[0], (wall[-1] - wall[0]) or 1.0
        for d, w in zip(docs, wall, strict=True):
            d[logformat.TS] = logformat.rfc3339(t0 + (w - first) / span * length)
            out.append(orjson.dumps(d) + b"\n")
    log.write_bytes(b"".join(out))


def demo(tmp: Path, rows: int, train_rows: int, png: Path) -> None:
    """The demo's report, its table per day and version, and its page as ``png``."""
    repo = tmp / "repo"
    versions = demo_repo(repo, train_rows)
    log, labels = serve_demo(repo, tmp, rows, versions)
    page, out = tmp / "report.html", tmp / "report.json"
    args = ["report", "--repo", str(repo), "--log", str(log), "--labels", str(labels), "--chunk", "1d"]
    sh([CHURNOPS, *args, "-o", str(page), "--json", str(out)], tmp)
    report: dict[str, Any] = json.loads(out.read_text())
    names = {md5: v for v, (md5, _) in versions.items()}
    print("prod: " + ", ".join(f"{names[b['model_version']]} from {b['entered']}" for b in report["bands"]))
    print()
    print("| day | version | lines | invalid | drift fired | estimated F1 (95% interval) | realized F1 |")
    print("|---|---|---|---|---|---|---|")
    for c in report["chunks"]:
        served = [v for v in c["versions"] if v["model_version"]]  # rejections have no version
        served.sort(key=lambda v: names[v["model_version"]])
        for i, row in enumerate([c, *served] if len(served) > 1 else [c]):
            version = "all" if len(served) > 1 and i == 0 else names[(row if i else served[0])["model_version"]]
            print(
                f"| {c['chunk'][:10] if i == 0 else ''} | {version} | {row['lines']} | {row['invalid_fraction']:.1%} "
                f"| {', '.join(row['flagged']) or 'none'} | {row['estimated_f1']:.3f} "
                f"({row['estimated_low']:.3f}-{row['estimated_high']:.3f}) | {row['realized_f1']:.3f} |"
            )
    png.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot(page, tmp), png)
    print(f"\nwrote {png}")


def screenshot(page: Path, tmp: Path, tries: int = 4) -> Path:
    """The page as a 1100x1400 PNG that two renders in a row agree on.

    On a loaded machine Chromium once captured the page before its last tiles were painted
    (part of the bottom blank): a picture drawn twice alike is a finished one.
    """
    flags = ("--window-size=1100,1400", "--hide-scrollbars", "--run-all-compositor-stages-before-draw")
    last = None
    for i in range(tries):
        shot = tmp / f"report-{i}.png"
        render_offline(page, tmp / "chromium", f"--screenshot={shot}", *flags)
        if last is not None and shot.read_bytes() == last.read_bytes():
            return shot
        last = shot
    sys.exit(f"Chromium drew {page} differently in each of {tries} renders")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run (one day of 500, a 20k-line log)")
    parser.add_argument("--rows", type=int, help="customers per day (default 20,000; smoke 500; demo 4,000, smoke 400)")
    parser.add_argument("--lines", type=int, nargs="+", help="lines of the speed logs (default 1M 10M; smoke 20k)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="render the demo's page to PNG instead")
    args = parser.parse_args()
    if args.screenshot:
        if CHROMIUM is None:
            print("--screenshot needs Chromium: apt-get install -y chromium fonts-dejavu-core", file=sys.stderr)
            return 2
        rows, train_rows = (args.rows or 400, 3_000) if args.smoke else (args.rows or 4_000, 20_000)
        with tempfile.TemporaryDirectory(prefix="churnops-report-demo-") as name:
            demo(Path(name), rows, train_rows, args.screenshot)
        return 0
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
