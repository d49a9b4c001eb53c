"""docs/deployment.md: the life of a model under the registry, executed on a fresh clone.

Retrains that exit 0 with their verdict, a refused and a forced promotion, a promotion on a real
gain, a rollback across code changes while the service runs, an experiment, a failed gate and a
branch switch that do not change what is served, and a fresh clone that serves prod from the
remote. Beyond what the document shows, the test checks the md5s the service reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.utils.docrun import fenced_blocks, parse_steps, run_steps
from tests.utils.project import REPO_ROOT, env, run
from tests.utils.server import free_port, stop_pid_file
from tests.utils.workflow import prod

DOC = REPO_ROOT / "docs" / "deployment.md"
TOKEN = "deployment-doc-token"


def test_the_document_covers_the_done_when_list() -> None:
    text = DOC.read_text()
    assert {lang for lang, _, _ in fenced_blocks(text)} == {"console"}
    commands = "\n".join(s.command for s in parse_steps(text))
    for needed in ["seed: 43", "seed: 44", "seed: 45", "churnops promote", "--force --reason", "churnops serve",
                   "churnops/core/errors.py", "churnops/pipeline/", "churnops rollback v1", "--reload-url",
                   "dvc exp run", "gate_f1=0.99", "git switch", "git clone", "PORT2"]:  # fmt: skip
        assert needed in commands, needed


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.walkthrough
def test_every_step_of_the_deployment_walkthrough_works(new_user_clone: Path) -> None:
    project = new_user_clone
    e = {**env(), "PORT": str(free_port()), "PORT2": str(free_port()), "CHURNOPS_ADMIN_TOKEN": TOKEN,
         "TERM": "dumb", "COLUMNS": "200"}  # fmt: skip
    try:
        outcomes = run_steps(parse_steps(DOC.read_text()), project, e, timeout=300)
    finally:
        stop_pid_file(project / "logs" / "serve.pid")
        stop_pid_file(project.parent / "serving-box.pid")
    v1_lock = run(["git", "show", "v1:dvc.lock"], project).stdout
    assert prod(project) is not None and prod(project) in v1_lock  # prod is v1's model again
    rollback = next(o for o in outcomes if o.step.command.startswith("churnops rollback v1"))
    assert f"/health reports model_version {prod(project)}" in rollback.output
    events = json.loads(run(["churnops", "models", "--json"], project).stdout)["events"]
    assert [ev["action"] for ev in events] == ["rollback", "promote", "promote", "promote"]
    assert events[0]["reason"] == "back to the first model" and events[2]["reason"] == "live experiment: threshold 0.75"
    assert run(["git", "status", "--porcelain"], project).stdout == ""
