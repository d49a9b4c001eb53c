"""The served model, swapped atomically, and how the workers of one server agree on it.

A request reads ``ModelState.current`` once, so a reload (which only rebinds it) never changes
the model under a request in flight. A failed (re)load leaves it alone and records why.

With several workers, each reports its last load (version, error, start time) in a status file
in the shared ``run_dir``. ``POST /admin/reload`` asks the supervisor (SIGHUP) to reload every
worker and waits until each reports a load begun after the request: every worker has recorded
the outcome, failure or success, before the endpoint answers, so ``/health`` agrees on all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from churnops.core.errors import ChurnopsError
from churnops.service.loader import LoadedModel, ModelLoader

logger = logging.getLogger("churnops.service")


@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    model_version: str | None
    previous_version: str | None
    reason: str | None = None


class ModelState:
    """The current model of this worker (or why there is none)."""

    def __init__(self, loader: ModelLoader, run_dir: Path | None = None) -> None:
        self.loader = loader
        self.current: LoadedModel | None = None
        self.error: str | None = "model not loaded yet"
        self.last_reload_error: str | None = None
        self.run_dir = run_dir
        self._last: tuple[float, ReloadOutcome] | None = None
        """(start, outcome) of the last load: one attribute, so a reader never pairs one load's
        time with another's outcome."""
        self._lock = asyncio.Lock()

    def load_now(self) -> ReloadOutcome:
        """Load (blocking) and swap in on success; keep the old model on failure."""
        started = time.monotonic()
        previous = self.current
        prev_version = previous.version if previous else None
        try:
            model = self.loader.load()
        except ChurnopsError as err:
            reason = str(err)
            if previous is None:
                self.error = reason
            self.last_reload_error = reason
            logger.error("model load failed, %s: %s", "still unavailable" if previous is None else "keeping", reason)
            return self._record(started, ReloadOutcome(False, prev_version, prev_version, reason))
        self.current = model  # the atomic swap: one reference assignment
        self.error = None
        self.last_reload_error = None
        return self._record(started, ReloadOutcome(True, model.version, prev_version))

    async def reload(self) -> ReloadOutcome:
        """Reload off the event loop; concurrent reloads run one after another."""
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(None, self.load_now)

    def outcome_since(self, since: float) -> ReloadOutcome | None:
        """How this worker's last load ended, if it began at or after ``since`` (``time.monotonic()``)."""
        last = self._last
        return last[1] if last is not None and last[0] >= since else None

    def _record(self, started: float, outcome: ReloadOutcome) -> ReloadOutcome:
        self._last = (started, outcome)
        self._report(started)
        return outcome

    def _status_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / f"worker-{os.getpid()}.json"

    def _report(self, started: float) -> None:
        path = self._status_path()
        if path is None:
            return
        doc = {
            "pid": os.getpid(),
            "model_version": self.current.version if self.current else None,
            "last_reload_error": self.last_reload_error,
            "load_started": started,
        }
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_bytes(orjson.dumps(doc))
            os.replace(tmp, path)
        except OSError as err:
            logger.warning("cannot write worker status %s: %s", path, err)

    def withdraw(self) -> None:
        """Remove this worker's status file (at shutdown)."""
        path = self._status_path()
        if path is not None:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class WorkerStatus:
    """A worker's status file."""

    pid: int
    model_version: str | None
    last_reload_error: str | None
    load_started: float
    """``time.monotonic()``: one clock for every process of the machine, and ``run_dir`` is local."""

    def agrees(self, outcome: ReloadOutcome) -> bool:
        """Whether this worker ended its load as ``outcome`` did: the same model, the same error or none."""
        error = None if outcome.ok else outcome.reason
        return (self.model_version, self.last_reload_error) == (outcome.model_version, error)


def worker_statuses(run_dir: Path) -> dict[int, WorkerStatus]:
    """The status of each live worker of this server, by pid."""
    out: dict[int, WorkerStatus] = {}
    for p in run_dir.glob("worker-*.json"):
        try:
            doc: dict[str, Any] = orjson.loads(p.read_bytes())
            status = WorkerStatus(
                int(doc["pid"]), doc.get("model_version"), doc.get("last_reload_error"), float(doc["load_started"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(status.pid):
            out[status.pid] = status
        else:
            p.unlink(missing_ok=True)  # a worker that died without withdrawing
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, not ours
        return True
    return True


async def propagate(supervisor_pid: int | None, run_dir: Path | None, since: float, workers: int, wait: float) -> bool:
    """Make every worker of this server reload, this one included; wait until each has, or ``wait`` s.

    A worker still starting up counts once it has loaded: it reads the same registry. False, and
    nothing sent, when this worker is not supervised (the caller reloads it).
    """
    if supervisor_pid is None or run_dir is None or os.getppid() != supervisor_pid:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(supervisor_pid, signal.SIGHUP)
    deadline = time.monotonic() + wait
    while True:
        statuses = worker_statuses(run_dir)
        done = sum(1 for s in statuses.values() if s.load_started >= since)
        if done >= max(workers, len(statuses)) or time.monotonic() >= deadline:
            return True
        await asyncio.sleep(0.05)


def tally(run_dir: Path, since: float, outcome: ReloadOutcome, workers: int) -> dict[str, int]:
    """How many workers ended a load begun at or after ``since`` as ``outcome`` did, out of how many."""
    statuses = worker_statuses(run_dir)
    updated = sum(1 for s in statuses.values() if s.load_started >= since and s.agrees(outcome))
    return {"updated": updated, "total": max(workers, len(statuses))}
