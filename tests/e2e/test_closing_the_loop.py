"""docs/closing-the-loop.md: the whole loop, executed on a fresh clone, every outcome checked.

Serve, simulate a concept shift with labels, feedback says degraded, include the labeled
traffic, `dvc repro` promotes the challenger, commit, reload, feedback on new traffic is ok;
and a margin of 0.9 is refused with dvc.lock unchanged.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.utils.project import REPO_ROOT, clone_built, env, fresh_clone, lock_md5, run
from tests.utils.server import free_port
from tests.workflow.docrun import fenced_blocks, parse_steps, run_steps

DOC = REPO_ROOT / "docs" / "closing-the-loop.md"


def test_the_document_covers_the_loop() -> None:
    text = DOC.read_text()
    assert {lang for lang, _, _ in fenced_blocks(text)} == {"console"}
    commands = "\n".join(s.command for s in parse_steps(text))
    for needed in ["churnops serve", "--tenure-effect 0", "--labels-out", "churnops feedback", "include: true",
                   "dvc repro", "churnops champion", "git commit", "kill -HUP", "promote_margin: 0.9"]:  # fmt: skip
        assert needed in commands, needed


def _stop(pid_file: Path) -> None:
    """Stop the server the document started, if it still runs (bounded wait)."""
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
@pytest.mark.slow
def test_every_step_of_the_loop_works_on_a_fresh_clone(built_template: Path, tmp_path: Path) -> None:
    # The shipped state: the champion is the model the committed dvc.lock records.
    origin = clone_built(built_template, tmp_path / "origin")
    run(["churnops", "champion"], origin)
    run(["dvc", "repro", "--quiet"], origin)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-q", "-m", "champion: the first accepted model"], origin)
    first = lock_md5(origin)
    project = fresh_clone(origin, tmp_path / "project")
    e = {**env(), "PORT": str(free_port()), "TERM": "dumb", "COLUMNS": "160"}
    try:
        outcomes = run_steps(parse_steps(DOC.read_text()), project, e, timeout=120)
    finally:
        _stop(project / "logs" / "serve.pid")
    feedback = [o.output for o in outcomes if o.step.command.startswith("churnops feedback")]
    assert len(feedback) == 2 and "status: degraded" in feedback[0] and "status: ok" in feedback[1]
    assert json.loads(run(["git", "show", "HEAD:metrics/promotion.json"], project).stdout) == {"promoted": True}
    retrain = next(o.output for o in outcomes if "promoted: challenger" in o.output and "degraded" in o.output)
    m = re.search(r"promoted: challenger f1=([\d.]+) >= champion f1=([\d.]+) \+ margin=0\.000 \(on the feed", retrain)
    assert m and float(m.group(1)) > float(m.group(2)), retrain  # a real win on the hold-out, not a tie
    assert lock_md5(project) != first  # the retrained model is what the commit pins
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    # (dvc status now names the feedback stage: the served log grew after the commit, as logs do.)
