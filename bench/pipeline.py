"""Benchmark the pipeline stages at several sizes: wall time and peak RSS per stage.

Each stage runs as its own process (the command dvc.yaml declares for it), in a temporary
directory, so the figures include interpreter start-up and imports, as `dvc repro` pays
them. Peak RSS comes from ``os.wait4`` for that one process.

    python bench/pipeline.py                 # 100k, 1M and 5M rows
    python bench/pipeline.py --rows 100000   # one size
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def stage_commands(params: dict) -> list[tuple[str, str]]:
    """The stages' commands exactly as dvc.yaml declares them, ``${...}`` resolved from params."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

    def resolve(cmd: str) -> str:
        def lookup(match: re.Match[str]) -> str:
            node = params
            for key in match.group(1).split("."):
                node = node[key]
            return str(node)

        return re.sub(r"\$\{([^}]+)\}", lookup, cmd)

    return [(name, resolve(stage["cmd"])) for name, stage in stages.items()]


def run_measured(cmd: str, cwd: Path) -> tuple[float, float]:
    """Run ``cmd`` (no shell); return (wall seconds, peak RSS in MiB) of that process alone."""
    argv = shlex.split(cmd)
    argv[0] = sys.executable if argv[0] == "python" else argv[0]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[1]} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def bench(rows: int, model: str) -> dict[str, tuple[float, float]]:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["generate"]["rows"] = rows
    params["train"]["model"] = model
    tmp = Path(tempfile.mkdtemp(prefix="churnops-bench-"))
    try:
        # The stage scripts run in a scratch directory, so every relative output path
        # of dvc.yaml lands there; the package is imported from the install.
        (tmp / "params.yaml").write_text(yaml.safe_dump(params))
        (tmp / "stages").symlink_to(ROOT / "stages")
        return {name: run_measured(cmd, tmp) for name, cmd in stage_commands(params)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--model", choices=["logreg", "hgb"], default="logreg")
    args = parser.parse_args()
    results = {rows: bench(rows, args.model) for rows in args.rows}
    stages = list(next(iter(results.values())))
    print(f"model: {args.model}; cores: {os.cpu_count()}; wall seconds / peak RSS MiB per stage\n")
    # Each stage pays ~1 s of interpreter start-up and imports whatever the size, so
    # linearity shows in the marginal cost between sizes, not in total / rows.
    print("| rows | " + " | ".join(stages) + " | total s | max RSS MiB | marginal s per 1M rows |")
    print("|---:|" + "---:|" * (len(stages) + 3))
    previous: tuple[int, float] | None = None
    for rows, res in results.items():
        total = sum(w for w, _ in res.values())
        peak = max(m for _, m in res.values())
        cells = " | ".join(f"{w:.2f} s / {m:.0f}" for w, m in res.values())
        marginal = f"{(total - previous[1]) / (rows - previous[0]) * 1e6:.2f}" if previous else "-"
        print(f"| {rows:,} | {cells} | {total:.2f} | {peak:.0f} | {marginal} |")
        previous = (rows, total)


if __name__ == "__main__":
    main()
