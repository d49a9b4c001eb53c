"""Every bench still runs end to end: each ``make bench-*`` script at its ``--smoke`` size.

Nothing else runs the benches, so without this a bench rots unseen (one failed at once for
months). These are smoke tests: exit 0 and a markdown table printed, no timing asserted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

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
