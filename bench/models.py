"""Benchmark ``churnops models`` on a long history: Git plumbing against a process per commit.

Builds (with ``git fast-import``, in a temporary directory) a repository of N commits:
four in five rewrite ``dvc.lock`` (a real-size lock, taken from this project), one in
three of those without a new model hash (a gate-only change), the rest touch code only.
Then lists its models three ways, side by side in one run:

- ``plumbing``: :func:`churnops.versioning.history.model_history`, one ``git log`` and two
  ``git cat-file`` processes (plus three quick ``rev-parse``) whatever the history's length;
- ``process per commit``: the obvious script, ``git show REV:path`` for the lock of
  each commit and its parent, the metrics and the params, parsed with PyYAML;
- ``--all``: the same plumbing, also listing commits that changed params without a new model;
- ``churnops models --json``: the CLI end to end, interpreter start-up included.

    python bench/models.py                # 500 commits
    python bench/models.py --commits 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from churnops.core.lockfile import locked_model  # noqa: E402
from churnops.versioning.history import model_history  # noqa: E402

LOCK_TEMPLATE = (ROOT / "dvc.lock").read_text()


def fake_md5(i: int) -> str:
    return f"ab{i:030x}"  # a letter first, so YAML keeps it a string, as DVC's md5s are


def build_repo(path: Path, commits: int) -> int:
    """Write the history with one ``git fast-import``; return how many models it holds."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    base_model = locked_model(yaml.safe_load(LOCK_TEMPLATE)).md5
    stream: list[bytes] = []
    models = 0
    model_md5 = fake_md5(0)

    def blob(path_: str, text: str) -> None:
        data = text.encode()
        stream.append(f"M 100644 inline {path_}\ndata {len(data)}\n".encode() + data + b"\n")

    for i in range(commits):
        ts = 1_700_000_000 + i * 60
        message = f"commit {i}".encode()
        stream.append(
            b"commit refs/heads/main\n"
            + f"committer bench <bench@churnops.invalid> {ts} +0000\n".encode()
            + f"data {len(message)}\n".encode()
            + message
            + b"\n"
        )
        if i % 5 == 4:
            blob("churnops/code.py", f"# revision {i}\n")
        else:
            gate_only = i % 15 == 0 and i > 0
            if not gate_only:
                model_md5 = fake_md5(i + 1)
                models += 1
            gate = 0.6 + (i % 30) / 100
            lock = LOCK_TEMPLATE.replace(base_model, model_md5).replace("train.gate_f1: 0.7", f"train.gate_f1: {gate}")
            blob("dvc.lock", lock)
            blob("metrics/evaluate.json", json.dumps({"f1": 0.8 + (i % 7) / 100, "roc_auc": 0.9}))
            blob("params.yaml", f"train:\n  gate_f1: {gate}\n")
        stream.append(b"\n")
        if i % 50 == 0:
            stream.append(f"reset refs/tags/v{i}\nfrom refs/heads/main\n\n".encode())
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True)
    return models


def naive_history(root: Path) -> list[dict[str, Any]]:
    """What one writes first: a ``git show`` per file per commit."""

    def show(rev: str, path: str) -> str | None:
        proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True)
        return proc.stdout if proc.returncode == 0 else None

    def model_md5(text: str | None) -> str | None:
        if text is None:
            return None
        for stage in yaml.safe_load(text)["stages"].values():
            for out in stage.get("outs") or []:
                if out["path"] == "models/model.json":
                    return str(out["md5"])
        return None

    log = subprocess.run(
        ["git", "log", "--format=%H %P", "--", "dvc.lock"], cwd=root, capture_output=True, text=True, check=True
    )
    entries = []
    for line in log.stdout.splitlines():
        sha, *parents = line.split()
        md5 = model_md5(show(sha, "dvc.lock"))
        if md5 is None or md5 in {model_md5(show(p, "dvc.lock")) for p in parents}:
            continue
        metrics = json.loads(show(sha, "metrics/evaluate.json") or "{}")
        params = yaml.safe_load(show(sha, "params.yaml") or "{}")
        entries.append({"commit": sha, "md5": md5, "f1": metrics.get("f1"), "gate": params["train"]["gate_f1"]})
    return entries


T = TypeVar("T")


def timed(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """The median seconds of ``repeat`` calls (at least one), and the last call's result."""
    times: list[float] = []
    result = fn_timed(fn, times)
    for _ in range(repeat - 1):
        result = fn_timed(fn, times)
    return statistics.median(times), result


def fn_timed(fn: Callable[[], T], times: list[float]) -> T:
    t0 = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - t0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run: checks the bench still works end to end",
    )
    args = parser.parse_args()
    if args.smoke:
        args.commits, args.repeat = 20, 1

    with tempfile.TemporaryDirectory(prefix="churnops-bench-models-") as tmp:
        root = Path(tmp) / "repo"
        t0 = time.perf_counter()
        models = build_repo(root, args.commits)
        build = time.perf_counter() - t0

        plumbing, entries = timed(lambda: model_history(root, current_md5="none"), args.repeat)
        with_params, all_entries = timed(
            lambda: model_history(root, current_md5="none", include_params=True), args.repeat
        )
        naive, naive_entries = timed(lambda: naive_history(root), 1)
        cli_cmd = [sys.executable, "-m", "churnops.cli", "models", "--json", "--repo", str(root)]
        cli, cli_out = timed(lambda: subprocess.run(cli_cmd, capture_output=True, check=True).stdout, args.repeat)

        assert len(entries) == models == len(naive_entries) == len(json.loads(cli_out)["versions"]), (
            "the methods disagree"
        )
        assert [e.md5 for e in entries] == [e["md5"] for e in naive_entries]
        # --all adds the gate-only commits (one in three lock commits keeps its model, changes the gate).
        assert len(all_entries) > len(entries)
        lock_commits = sum(1 for i in range(args.commits) if i % 5 != 4)

        print(f"History: {args.commits} commits, {lock_commits} touching dvc.lock, {models} models")
        print(f"(built in {build:.1f} s with git fast-import; median of {args.repeat} runs, 1 for the slow one)\n")
        print("| method | git processes | time (s) | per commit (ms) | vs plumbing |")
        print("|---|---:|---:|---:|---:|")
        rows = [
            # 3 rev-parse (work tree, HEAD, the revision) + log + cat-file --batch-check + --batch
            ("plumbing: `model_history()`", "6", plumbing),
            ("`model_history(include_params=True)` (`--all`)", "6", with_params),
            ("`churnops models --json` (CLI, start-up included)", "6", cli),
            ("process per commit (`git show` x4)", f"{1 + 4 * lock_commits}", naive),
        ]
        for name, procs, seconds in rows:
            per_commit = seconds / args.commits * 1000
            print(f"| {name} | {procs} | {seconds:.3f} | {per_commit:.2f} | {seconds / plumbing:.1f}x |")


if __name__ == "__main__":
    main()
