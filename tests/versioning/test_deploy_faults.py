"""Promote and rollback under SIGKILL at named and random instants, and two writers at once.

A kill goes through ``$CHURNOPS_FAULT`` (:mod:`churnops.versioning.faults`) at a named point
(the process signals its whole group, ``git`` children included) or comes from outside after a
seeded random delay. After every kill the registry must name the old model or the new one,
never anything else, the work tree must be as it was, and a plain retry must finish the job.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.utils.project import env, run
from tests.utils.workflow import History, prod, registry_log, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POINTS = ["locked", "model-ready", "registry-commit-written", "registry-updated"]
"""The named instants of a deployment, in the order it reaches them."""
DELAYS = [0.002, 0.01, 0.03]
"""Kills this long after "registry-commit-written": inside the ``git update-ref`` child."""
RANDOM_KILLS = 12
RACES = 6


def start(project: Path, *args: str, fault: str | None = None) -> subprocess.Popen[str]:
    """``churnops ARGS`` in its own process group (as a service manager runs it)."""
    e = env()
    if fault:
        e["CHURNOPS_FAULT"] = fault
    return subprocess.Popen(
        ["churnops", *args], cwd=project, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, err


def command(history: History, target: str) -> list[str]:
    """Alternate the two commands: a promotion of HEAD (v2, forced), or a rollback to v1."""
    return ["promote", "--force", "--reason", "fault test"] if target == history.v2 else ["rollback", "v1"]


def check_after_kill(p: Path, history: History, old: str, new: str, before: dict[str, object], case: str) -> None:
    assert prod(p) in (old, new), case
    assert snapshot(p) == before, case  # a deployment never touches the work tree, even killed
    fsck = run(["git", "fsck", "--no-dangling", "--connectivity-only"], p, check=False)
    assert fsck.returncode == 0, (case, fsck.stderr)


def retry(p: Path, history: History, target: str, case: str) -> None:
    rc, err = finish(start(p, *command(history, target)))
    assert rc == 0, (case, err)
    assert "Traceback" not in err, case
    assert prod(p) == target, case
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], p).stdout == "", case


def test_a_kill_at_any_instant_leaves_old_or_new_and_a_plain_retry_completes(history: History) -> None:
    p = history.root
    cases = [f"{point}:kill" for point in POINTS] + [f"registry-commit-written:kill@{d}" for d in DELAYS]
    seen = {"old": 0, "new": 0}
    for case in cases:
        for target in (history.v1, history.v2):  # a rollback, then a promotion
            old = prod(p)
            assert old is not None
            if old == target:
                continue
            before = snapshot(p)
            rc, err = finish(start(p, *command(history, target), fault=case))
            assert rc in (-signal.SIGKILL, 0), (case, rc, err)
            check_after_kill(p, history, old, target, before, case)
            seen["new" if prod(p) == target else "old"] += 1
            retry(p, history, target, case)
    assert seen["old"] > 0 and seen["new"] > 0, seen  # the kills landed on both sides of the switch

    rng = random.Random(17)
    for i in range(RANDOM_KILLS):
        old = prod(p)
        target = history.v1 if old == history.v2 else history.v2
        before = snapshot(p)
        proc = start(p, *command(history, target))
        time.sleep(rng.uniform(0.02, 0.9))  # a switch takes ~0.5-0.9 s here
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        finish(proc)
        check_after_kill(p, history, str(old), target, before, f"random kill {i}")
        retry(p, history, target, f"random kill {i}")


@pytest.mark.parametrize("age", [60, 0], ids=["old", "just-left"])
def test_a_stale_ref_lock_of_a_killed_writer_does_not_block_the_retry(history: History, age: float) -> None:
    """However young the killed writer's lock: a retry at once waits it out instead of failing."""
    p = history.root
    lock = p / ".git" / "refs" / "heads" / "churnops" / "registry.lock"
    lock.write_text("0" * 40 + "\n")
    os.utime(lock, (time.time() - age, time.time() - age))
    proc = run(["churnops", "rollback", "v1"], p, check=False)
    assert proc.returncode == 0, proc.stderr
    assert prod(p) == history.v1 and not lock.exists()


def test_two_writers_at_once_never_corrupt_the_registry(history: History) -> None:
    """Races of a rollback to v1 against a promotion of v2: each wins, waits its turn, or is refused."""
    p = history.root
    rng = random.Random(20)
    refused = 0
    for trial in range(RACES):
        wait = [] if trial % 3 == 0 else ["--wait", "0"]  # most refuse at once; some wait their turn
        targets = [history.v1, history.v2] if rng.random() < 0.5 else [history.v2, history.v1]
        procs = [start(p, *command(history, t), *wait) for t in targets]
        results = [finish(proc) for proc in procs]
        assert sorted(rc for rc, _ in results) in ([0, 0], [0, 75]), (trial, results)
        for rc, err in results:
            assert "Traceback" not in err, (trial, err)
            if rc == 75:
                refused += 1
                line = err.strip()
                assert "\n" not in line and "held by pid " in line and "nothing was changed" in line, line
        assert prod(p) in (history.v1, history.v2)
        subjects = registry_log(p)
        assert all(s.startswith(("promote: prod ", "rollback: prod ")) for s in subjects), subjects
        # Linear: every registry commit has at most one parent, and each names the one before it.
        parents = run(["git", "log", "--format=%P", "churnops/registry"], p).stdout.split("\n")
        assert all(len(line.split()) <= 1 for line in parents), parents
    # Whether the races above collide depends on the machine's load; this one always does: the
    # first writer holds the lock (a fault sleeps there) when the second asks for it.
    first, second = (history.v2, history.v1) if prod(p) == history.v1 else (history.v1, history.v2)
    holder = start(p, *command(history, first), fault="locked:sleep@3")
    lock = p / ".git" / "churnops.lock"
    deadline = time.monotonic() + 60
    while f'"pid": {holder.pid}' not in (lock.read_text() if lock.exists() else ""):
        assert holder.poll() is None and time.monotonic() < deadline, finish(holder)
        time.sleep(0.05)
    rc, err = finish(start(p, *command(history, second), "--wait", "0"))
    assert rc == 75 and "held by pid " in err and "nothing was changed" in err, (rc, err)
    refused += 1
    assert finish(holder)[0] == 0 and prod(p) == first
    assert refused > 0  # the lock really was contended
