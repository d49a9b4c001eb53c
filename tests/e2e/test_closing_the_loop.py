"""docs/closing-the-loop.md: the whole loop, executed on a fresh clone, every outcome checked.

Serve prod, simulate a concept shift with labels, feedback says degraded, snapshot and include
the labeled traffic, `dvc repro` judges the candidate better, commit, push, promote with a
reload, a fresh clone of that commit rebuilds with a clean `dvc status`, and feedback on new
traffic is ok while the committed state stays clean.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.utils.docrun import fenced_blocks, parse_steps, run_steps
from tests.utils.project import REPO_ROOT, clone_built, env, fresh_clone, lock_md5, run, set_params
from tests.utils.server import free_port, stop_pid_file
from tests.utils.workflow import prod

DOC = REPO_ROOT / "docs" / "closing-the-loop.md"
TOKEN = "closing-the-loop-token"


def test_the_document_covers_the_loop() -> None:
    text = DOC.read_text()
    assert {lang for lang, _, _ in fenced_blocks(text)} == {"console"}
    commands = "\n".join(s.command for s in parse_steps(text))
    for needed in ["churnops serve", "--tenure-effect 0", "--labels-out", "churnops feedback snapshot",
                   "include: true", "dvc repro", "git commit", "dvc push", "churnops promote --reload-url",
                   "git clone", "dvc pull"]:  # fmt: skip
        assert needed in commands, needed


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.walkthrough
def test_every_step_of_the_loop_works_on_a_fresh_clone(built_template: Path, tmp_path: Path) -> None:
    # The shipped state: the first model is prod, and pinned as the champion candidates are judged against.
    origin = clone_built(built_template, tmp_path / "origin")
    run(["churnops", "promote"], origin)
    first = lock_md5(origin)
    set_params(origin, {"promote.champion": first})
    run(["dvc", "repro", "--quiet"], origin)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-q", "-m", "judge candidates against prod"], origin)
    project = fresh_clone(origin, tmp_path / "project")
    e = {**env(), "PORT": str(free_port()), "CHURNOPS_ADMIN_TOKEN": TOKEN, "TERM": "dumb", "COLUMNS": "160"}
    try:
        outcomes = run_steps(parse_steps(DOC.read_text()), project, e, timeout=180)
    finally:
        stop_pid_file(project / "logs" / "serve.pid")
    feedback = [o.output for o in outcomes if o.step.command.startswith("churnops feedback --log")]
    assert len(feedback) == 2 and "status: degraded" in feedback[0] and "status: ok" in feedback[1]
    retrain = next(o.output for o in outcomes if "judge: promote" in o.output)
    m = re.search(r"judge: promote: candidate f1=([\d.]+) vs champion ([\d.]+) on the feedback hold-out", retrain)
    assert m and float(m.group(1)) > float(m.group(2)), retrain  # a real win on the hold-out
    assert json.loads(run(["git", "show", "HEAD:metrics/judge.json"], project).stdout) == {"verdict": "promote"}
    assert lock_md5(project) != first and prod(project) == lock_md5(project)  # the retrained model is prod
    assert run(["git", "status", "--porcelain"], project).stdout == ""
