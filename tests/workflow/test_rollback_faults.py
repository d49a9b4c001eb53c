"""Rollback under fault injection: SIGKILL, SIGTERM, SIGHUP, SIGINT at named instants, and races.

Each kill goes through ``$CHURNOPS_FAULT`` (see :mod:`churnops.versioning.rollback.faults`): the
rollback signals its own process group, children included, when it reaches the named
point, or after a delay from it (``dvc-checkout:kill@0.3`` lands inside the ``dvc
checkout`` subprocess). A few more kills come from outside at seeded random delays.

After every SIGKILL, a plain ``churnops rollback`` (no ``--force``) must recover the
interrupted run and succeed, leaving ``git status`` and ``dvc status`` clean, one
``git worktree``, and no journal or backup. After SIGTERM, SIGHUP and SIGINT the first
run must already have put everything back exactly as it was.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from churnops.versioning.history import file_md5
from tests.utils.project import env, lock_md5, run
from tests.utils.workflow import History, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Named instants, in the order a rollback reaches them; the checkout delays land inside `dvc checkout`.
KILL_POINTS = [
    "locked:kill",
    "journal-written:kill",
    "files-saved:kill",
    "out-moved:kill",
    "backed-up:kill",
    "git-restored:kill",
    "dvc-checkout:kill@0.05",
    "dvc-checkout:kill@0.4",
    "checked-out:kill",
    "committed:kill",
    "done:kill",
    # SIGTERM starts the in-process undo, and a SIGKILL interrupts the undo itself.
    "backed-up:term,outs-restored:kill",
]
# Interrupts that the rollback must undo itself, before exiting.
INTERRUPT_POINTS = {
    "backed-up:term": signal.SIGTERM,
    "out-moved:term": signal.SIGTERM,
    "dvc-checkout:term@0.3": signal.SIGTERM,
    "status-after:hup": signal.SIGHUP,
    "committed:term": signal.SIGTERM,
    "git-restored:int": signal.SIGINT,
}
RANDOM_KILLS = 1
RACES = 6
"""Two rollbacks started at once, this many times (every fifth waits its turn, the others refuse at once)."""
JOURNAL = ".git/churnops-rollback"


def start(project: Path, *args: str, fault: str | None = None) -> subprocess.Popen[str]:
    """``churnops rollback ARGS`` in its own process group (as a service manager runs it)."""
    e = env()
    if fault:
        e["CHURNOPS_FAULT"] = fault
    return subprocess.Popen(
        ["churnops", "rollback", *args],
        cwd=project,
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, err


def other(project: Path, history: History) -> tuple[str, str]:
    """The tag and md5 of the model that is *not* current: the next rollback's target."""
    return ("v1", history.v1) if lock_md5(project) == history.v2 else ("v2", history.v2)


def assert_consistent(project: Path, md5: str, case: str) -> None:
    """Clean Git and DVC, one worktree, no journal, backup or rebuild folder; the model is ``md5``."""
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout == "", case
    assert run(["dvc", "status", "--json"], project).stdout.strip() == "{}", case
    assert run(["git", "worktree", "list", "--porcelain"], project).stdout.count("worktree ") == 1, case
    leftovers = sorted(p.name for p in (project / JOURNAL).iterdir()) if (project / JOURNAL).exists() else []
    assert leftovers == [], (case, leftovers)
    assert lock_md5(project) == md5 == file_md5(project / "models/model.json"), case


def retry(project: Path, target: str, md5: str, case: str) -> str:
    rc, err = finish(start(project, target))
    assert rc == 0, (case, err)
    assert "Traceback" not in err, case
    assert_consistent(project, md5, case)
    return err


def test_sigkill_at_every_step_is_recovered_by_a_plain_retry(history: History) -> None:
    p = history.root
    recovered = 0
    for case in KILL_POINTS:
        target, md5 = other(p, history)
        rc, err = finish(start(p, target, fault=case))
        assert rc in (-signal.SIGKILL, 0) if "@" in case else rc == -signal.SIGKILL, (case, rc, err)
        if case == "backed-up:kill":
            status = run(["churnops", "rollback", "--status"], p, check=False)
            assert status.returncode == 3, status
            assert f"an interrupted rollback to {target}" in status.stdout and "undone by the next" in status.stdout
        recovered += "an interrupted rollback" in retry(p, target, md5, case)

    rng = random.Random(9)
    for i in range(RANDOM_KILLS):
        target, md5 = other(p, history)
        proc = start(p, target)
        time.sleep(rng.uniform(0.5, 3.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        finish(proc)
        retry(p, target, md5, f"random kill {i}")
    # Most kills land after the journal is written: the retry says what it found and did.
    assert recovered >= len(KILL_POINTS) - 4


def test_sigterm_sighup_and_sigint_are_undone_before_exiting(history: History) -> None:
    p = history.root
    for case, signum in INTERRUPT_POINTS.items():
        target, md5 = other(p, history)
        before = snapshot(p)
        rc, err = finish(start(p, target, fault=case))
        assert rc == 128 + signum, (case, rc, err)
        assert err.strip().splitlines()[-1].endswith("nothing was changed"), (case, err)
        assert snapshot(p) == before, case
        assert not (p / JOURNAL / "journal.json").exists() and not (p / JOURNAL / "backup").exists(), case
    target, md5 = other(p, history)
    retry(p, target, md5, "after the interrupts")


def test_a_killed_rebuild_leaves_no_worktree_behind(history: History, tmp_path: Path) -> None:
    p = history.root
    for case in ("worktree-added:kill", "dvc-repro:kill@1.0"):
        target, md5 = other(p, history)
        obj = p / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
        hidden = tmp_path / "model-object"
        shutil.move(obj, hidden)  # the target's model is in no cache: --rebuild must reproduce it
        rc, err = finish(start(p, target, "--rebuild", fault=case))
        assert rc == -signal.SIGKILL, (case, rc, err)
        shutil.move(hidden, obj)
        retry(p, target, md5, case)
        assert not (p / JOURNAL / "rebuild").exists()


def test_two_rollbacks_at_once_never_corrupt(history: History) -> None:
    """:data:`RACES` races of a rollback to v1 against one to v2; each either wins, waits its turn, or is refused."""
    p = history.root
    rng = random.Random(20)
    refused = 0
    for trial in range(RACES):
        # Most trials refuse at once; every fifth waits (up to the default) for its turn.
        wait = [] if trial % 5 == 0 else ["--wait", "0"]
        order = ["v1", "v2"] if rng.random() < 0.5 else ["v2", "v1"]
        procs = {rev: start(p, rev, *wait) for rev in order}
        results = {rev: finish(proc) for rev, proc in procs.items()}
        codes = sorted(rc for rc, _ in results.values())
        assert codes in ([0, 0], [0, 75]), (trial, results)
        for rc, err in results.values():
            assert "Traceback" not in err, (trial, err)
            if rc == 75:
                refused += 1
                line = err.strip()
                assert "\n" not in line, (trial, err)
                assert "held by pid " in line and "churnops rollback v" in line and "started at" in line, line
                assert "nothing was changed" in line
        model = lock_md5(p)
        assert model in (history.v1, history.v2)
        assert run(["git", "status", "--porcelain", "--untracked-files=all"], p).stdout == "", trial
        assert file_md5(p / "models/model.json") == model, trial
        assert not (p / JOURNAL / "journal.json").exists(), trial
    assert run(["dvc", "status", "--json"], p).stdout.strip() == "{}"
    assert refused > 0  # the lock really was contended
