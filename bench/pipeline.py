"""Benchmark the pipeline's stages at several sizes: wall time and peak RSS per stage.

Each stage runs as its own process, with the command dvc.yaml declares for it, in a scratch
project, so the figures include interpreter start-up and imports, as `dvc repro` pays them.
Peak RSS comes from ``os.wait4`` for that one process. The judge weighs each candidate
against a pinned champion (a model trained at the smallest size with another ``train.seed``)
read from the scratch project's DVC cache, as in a project that has one in production.

    python bench/pipeline.py                            # 100k, 1M and 5M rows
    python bench/pipeline.py --rows 100000 --rounds 3   # one size: median and range of 3 runs
    python bench/pipeline.py --code ../before .         # two checkouts side by side, interleaved
    python bench/pipeline.py --smoke                    # a tiny run: the bench still works

``--code`` runs each checkout's own stages (its dvc.yaml, params.yaml and package, imported
through ``PYTHONPATH``); rounds alternate between checkouts, so a noisy machine slows both alike.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from churnops.versioning import store  # noqa: E402

SMOKE_ROWS = 2_000
CHAMPION_STAGES = ("params", "generate", "labels", "prepare", "train")

Measure = tuple[float, float, float]
"""(wall seconds, CPU seconds, peak RSS MiB) of one stage's process."""


@dataclass(frozen=True)
class Code:
    """A checkout whose stages are measured."""

    root: Path
    label: str

    def params(self, rows: int, model: str, champion: str | None) -> dict[str, Any]:
        params: dict[str, Any] = yaml.safe_load((self.root / "params.yaml").read_text())
        params["generate"]["rows"] = rows
        params["train"]["model"] = model
        params["promote"]["champion"] = champion
        return params

    def stage_commands(self, params: dict[str, Any]) -> list[tuple[str, list[str]]]:
        """The stages' commands exactly as this checkout's dvc.yaml declares them, ``${...}`` resolved."""
        stages = yaml.safe_load((self.root / "dvc.yaml").read_text())["stages"]

        def lookup(match: re.Match[str]) -> str:
            node: Any = params
            for key in match.group(1).split("."):
                node = node[key]
            return str(node)

        return [(name, shlex.split(re.sub(r"\$\{([^}]+)\}", lookup, stage["cmd"]))) for name, stage in stages.items()]

    def run(self, name: str, argv: list[str], cwd: Path) -> Measure:
        """Run one stage (no shell) with this checkout's package; its wall seconds and peak RSS."""
        argv = [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
        env = {**os.environ, "PYTHONPATH": str(self.root), "DVC_NO_ANALYTICS": "1"}
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{self.label}: stage {name} failed:\n{stderr}")
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux reports KiB


def scratch_project(dest: Path, template: Path, params: dict[str, Any]) -> Path:
    """A project directory with ``params`` and the template's DVC directory (its cache holds the champion)."""
    dest.mkdir()
    shutil.copytree(template / ".dvc", dest / ".dvc")
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def make_template(tmp: Path, code: Code, rows: int, model: str) -> tuple[Path, str]:
    """A DVC project whose cache holds a champion; the champion's md5.

    The champion is trained by ``code``'s stages at ``rows`` with another ``train.seed``, so it
    differs from every candidate and the judge scores both models, as it does with a real one.
    """
    template = tmp / "template"
    template.mkdir()
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=template, check=True)
    params = code.params(rows, model, None)
    params["train"]["seed"] += 1
    build = scratch_project(tmp / "champion", template, params)
    for name, argv in code.stage_commands(params):
        if name in CHAMPION_STAGES:
            code.run(name, argv, build)
    data = (build / "models" / "model.json").read_bytes()
    md5 = hashlib.md5(data).hexdigest()
    with store.dvc_repo(template) as repo:
        cached = store.object_path(repo, md5)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    shutil.rmtree(build)
    return template, md5


def bench_once(code: Code, rows: int, model: str, champion: str, template: Path, dest: Path) -> dict[str, Measure]:
    """Every stage of ``code`` once, in order, in a fresh scratch project."""
    params = code.params(rows, model, champion)
    project = scratch_project(dest, template, params)
    try:
        return {name: code.run(name, argv, project) for name, argv in code.stage_commands(params)}
    finally:
        shutil.rmtree(project, ignore_errors=True)


def table(results: dict[tuple[int, str], list[dict[str, Measure]]], codes: list[Code]) -> list[str]:
    """The markdown table: per stage the median wall seconds and the peak RSS over the rounds.

    The CPU seconds (user + system) beside the wall total are the steadier figure on a shared
    machine: other processes stretch a stage's wall time, much less its own CPU time.
    """
    stages: list[str] = []
    for runs in results.values():
        stages += [s for s in runs[0] if s not in stages]
    many = len(codes) > 1
    head = "| rows | " + ("code | " if many else "") + " | ".join(stages)
    lines = [head + " | total s, median (range) | CPU s, median | max RSS MiB | marginal s per 1M rows |"]
    lines.append("|---:|" + ("---|" if many else "") + "---:|" * (len(stages) + 4))
    previous: dict[str, tuple[int, float]] = {}
    for (rows, label), runs in results.items():
        cells = []
        for s in stages:
            walls = [r[s][0] for r in runs if s in r]
            cells.append(
                f"{statistics.median(walls):.2f} s / {max(r[s][2] for r in runs if s in r):.0f}" if walls else "-"
            )
        totals = [sum(w for w, _, _ in r.values()) for r in runs]
        total = statistics.median(totals)
        cpu = statistics.median(sum(c for _, c, _ in r.values()) for r in runs)
        spread = f" ({min(totals):.1f}–{max(totals):.1f})" if len(totals) > 1 else ""
        peak = max(m for r in runs for _, _, m in r.values())
        before = previous.get(label)
        marginal = f"{(total - before[1]) / (rows - before[0]) * 1e6:.2f}" if before else "-"
        code_cell = f"{label} | " if many else ""
        figures = f"{total:.2f}{spread} | {cpu:.2f} | {peak:.0f} | {marginal}"
        lines.append(f"| {rows:,} | {code_cell}{' | '.join(cells)} | {figures} |")
        previous[label] = (rows, total)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--model", choices=["logreg", "hgb"], default="logreg")
    parser.add_argument("--rounds", type=int, default=1, help="runs per size and checkout, interleaved (default: 1)")
    parser.add_argument("--code", type=Path, nargs="+", default=[ROOT], help="checkouts to measure (default: this one)")
    parser.add_argument("--smoke", action="store_true", help=f"one run at {SMOKE_ROWS:,} rows: checks the bench works")
    args = parser.parse_args()
    sizes, rounds = ([SMOKE_ROWS], 1) if args.smoke else (sorted(args.rows), args.rounds)
    codes = [
        Code(path.resolve(), path.resolve().name if path.resolve() != ROOT else "this checkout") for path in args.code
    ]
    load_start = os.getloadavg()[0]
    results: dict[tuple[int, str], list[dict[str, Measure]]] = {}
    with tempfile.TemporaryDirectory(prefix="churnops-bench-") as tmp:
        template, champion = make_template(Path(tmp), codes[0], sizes[0], args.model)
        n = 0
        for rows in sizes:
            for _ in range(rounds):
                for code in codes:
                    n += 1
                    run = bench_once(code, rows, args.model, champion, template, Path(tmp) / f"run-{n}")
                    results.setdefault((rows, code.label), []).append(run)
    print(
        f"model: {args.model}; cores: {os.cpu_count()}; load average {load_start:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end; {rounds} round(s) per cell"
        + (", checkouts interleaved" if len(codes) > 1 else "")
        + "; median wall seconds / peak RSS MiB per stage\n"
    )
    # Each stage pays ~1 s of interpreter start-up and imports whatever the size, so
    # linearity shows in the marginal cost between sizes, not in total / rows.
    print("\n".join(table(results, codes)))


if __name__ == "__main__":
    main()
