"""Every bench still runs end to end: each ``make bench-*`` script at its ``--smoke`` size.

Nothing else runs the benches, so without this a bench rots unseen (one failed at once for
months). These are smoke tests: exit 0 and a markdown table printed, no timing asserted.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.browser import require_chromium
from tests.utils.project import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def make_bench_scripts() -> dict[str, str]:
    """``make bench-*`` target -> the bench script its recipe runs."""
    text = (REPO_ROOT / "Makefile").read_text()
    return dict(re.findall(r"^(bench-[\w-]+):.*\n\tpython (bench/\w+\.py)\s*$", text, flags=re.M))


BENCHES = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "bench").glob("*.py"))


def test_every_bench_script_has_a_make_target_and_make_bench_runs_them_all() -> None:
    targets = make_bench_scripts()
    assert sorted(targets.values()) == BENCHES
    bench_line = re.search(r"^bench: (.*?) ##", (REPO_ROOT / "Makefile").read_text(), flags=re.M)
    assert bench_line is not None
    assert sorted(bench_line.group(1).split()) == sorted(targets)


@pytest.mark.parametrize("script", BENCHES)
def test_bench_runs_at_its_smoke_size(script: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, script, "--smoke"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{script} --smoke failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert re.search(r"^\|[-:| ]+\|$", proc.stdout, flags=re.M), f"{script} printed no table:\n{proc.stdout}"


def test_report_bench_renders_its_demo_page_to_png(tmp_path: Path) -> None:
    """``bench/report.py --screenshot`` (the README's image): prod's history inside the traffic,
    the lines served by the version in prod, rejected requests and the concept-shift gap."""
    require_chromium()
    png = tmp_path / "report.png"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "bench/report.py", "--smoke", "--screenshot", str(png)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1100, 1400)
    prod = "prod: a from 2026-09-20T12:00:00Z, b from 2026-09-23T10:00:00Z, a from 2026-09-24T15:00:00Z"
    assert prod in proc.stdout
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if re.match(r"^\| (2026| \|)", line)]
    days: dict[str, list[list[str]]] = {}
    for row in rows:
        day = row[0].strip() or list(days)[-1]
        days.setdefault(day, []).append([x.strip() for x in row[1:]])
    assert [[r[0] for r in v] for v in days.values()] == [["a"], ["a"], ["all", "a", "b"], ["all", "a", "b"], ["a"]]
    invalid = {day: float(v[0][2].rstrip("%")) for day, v in days.items()}
    assert invalid["2026-09-23"] > 5 and all(0 < x < 2 for d, x in invalid.items() if d != "2026-09-23")
    assert "invalid_lines" in days["2026-09-23"][0][3] and "tenure_months" in days["2026-09-22"][0][3]
    concept = days["2026-09-24"][0]
    assert float(concept[5]) < float(concept[4].split("(")[1].split("-")[0]) - 0.05  # realized far below the interval
