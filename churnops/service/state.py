"""The served model, swapped atomically, and how the workers of one server agree on it.

``ModelState.current`` is a reference to an immutable :class:`LoadedModel`. A request
reads it once and uses that object to the end, so a concurrent reload (which only
rebinds the attribute) never changes the model under a request in flight. A failed
(re)load leaves the reference alone and records why.

With several workers, each is its own process with its own ``ModelState``. The worker
that receives ``POST /admin/reload`` reloads itself, asks the ``churnops serve``
supervisor (SIGHUP) to make every worker reload, then waits until each worker's status
file in the shared ``run_dir`` reports the new version, so that ``/health`` answers the
same on every worker once the reload endpoint has returned.
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
        self._lock = asyncio.Lock()

    def load_now(self) -> ReloadOutcome:
        """Load (blocking) and swap in on success; keep the old model on failure."""
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
            self._report()
            return ReloadOutcome(False, prev_version, prev_version, reason)
        self.current = model  # the atomic swap: one reference assignment
        self.error = None
        self.last_reload_error = None
        self._report()
        return ReloadOutcome(True, model.version, prev_version)

    async def reload(self) -> ReloadOutcome:
        """Reload off the event loop; concurrent reloads run one after another."""
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(None, self.load_now)

    # -- sibling workers

    def _status_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / f"worker-{os.getpid()}.json"

    def _report(self) -> None:
        path = self._status_path()
        if path is None:
            return
        doc = {"pid": os.getpid(), "model_version": self.current.version if self.current else None, "t": time.time()}
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


def sibling_versions(run_dir: Path) -> dict[int, str | None]:
    """The model version each live worker of this server reports."""
    out: dict[int, str | None] = {}
    for p in run_dir.glob("worker-*.json"):
        try:
            doc: dict[str, Any] = orjson.loads(p.read_bytes())
            pid = int(doc["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            out[pid] = doc.get("model_version")
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


async def propagate(
    supervisor_pid: int | None, run_dir: Path | None, version: str, workers: int, wait: float
) -> dict[str, int] | None:
    """Make every worker of this server load ``version``; return how many do, out of how many.

    Waits (without blocking the event loop) until ``workers`` workers report ``version``
    or ``wait`` seconds pass. A worker still starting up counts once it has loaded: it
    reads the same registry. None when this worker is not supervised (single process).
    """
    if supervisor_pid is None or run_dir is None or os.getppid() != supervisor_pid:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(supervisor_pid, signal.SIGHUP)  # the supervisor forwards it to every worker
    deadline = time.monotonic() + wait
    while True:
        versions = sibling_versions(run_dir)
        updated = sum(1 for v in versions.values() if v == version)
        total = max(workers, len(versions))
        if updated >= total or time.monotonic() >= deadline:
            return {"updated": updated, "total": total}
        await asyncio.sleep(0.05)
