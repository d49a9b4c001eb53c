"""The model-loading seam: from ``dvc.lock`` to a verified, immutable :class:`LoadedModel`.

``dvc.lock`` is the only authority on which model is accepted. The loader reads the md5
it records for ``models/model.json``, and :meth:`churnops.pipeline.scorer.Scorer.from_bytes`
checks the file's bytes against it *before* parsing them. The model format is plain
JSON (numbers only), so even a verified file cannot execute code. Tests replace the
loader with anything that has a ``load()`` method.

A refusal's message is shown to unauthenticated callers (``/health``, the 503 body), so
it names files relative to the served repository and says what fixes it; the server log
gets the absolute repository path as well.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from churnops.core import paths
from churnops.core.errors import ChurnopsError, LockfileError, ModelIntegrityError

if TYPE_CHECKING:
    from churnops.pipeline.scorer import Scorer

logger = logging.getLogger("churnops.service")

PROJECT_MARKERS = paths.PROJECT_MARKERS
"""A directory holding neither is not a churnops project: nothing there can be served."""


def is_project(repo: Path) -> bool:
    """Whether ``repo`` looks like a churnops project (has ``dvc.yaml`` or ``dvc.lock``)."""
    return any((repo / name).is_file() for name in PROJECT_MARKERS)


@dataclass(frozen=True)
class LoadedModel:
    """One verified model and what an operator wants to know about it.

    Immutable: a reload builds a new one and swaps the reference, so a request that
    started on this model finishes on it.
    """

    scorer: Scorer
    version: str
    """The model file's md5, as ``dvc.lock`` records it."""
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    git_commit: str | None = None
    loaded_at: str = ""

    @property
    def threshold(self) -> float:
        return self.scorer.threshold


class ModelLoader(Protocol):
    """Anything that can produce the model to serve, or raise a ChurnopsError saying why not."""

    def load(self) -> LoadedModel: ...


def git_commit(repo: Path, timeout: float = 2.0) -> str | None:
    """``git rev-parse HEAD`` in ``repo``; None when it is not a Git work tree (best effort)."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and len(out) >= 7 else None


def _read_metrics(path: Path) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RepoModelLoader:
    """Loads the model that ``<repo>/dvc.lock`` records, verified against its md5."""

    def __init__(self, repo: str | Path) -> None:
        self.repo = Path(repo)

    def load(self) -> LoadedModel:
        """Read the lock, verify and parse the model, and gather its metadata.

        Raises:
            LockfileError: no project at ``repo``, or dvc.lock is missing, unreadable or records no model.
            ModelIntegrityError: the model file is missing or its md5 differs from the lock's.
            Either way the message names files relative to ``repo`` (it is shown to callers).
        """
        try:
            return self._load()
        except ChurnopsError as err:
            public = self.relative(str(err))
            logger.error("cannot load a model from %s: %s", self.repo.resolve(), err)
            raise type(err)(public) from None

    def relative(self, message: str) -> str:
        """``message`` with the repository's own path dropped from every file it names."""
        for prefix in {str(self.repo.resolve()), str(self.repo)}:
            if prefix not in ("", "."):
                message = message.replace(prefix + "/", "").replace(prefix, ".")
        return message

    def _load(self) -> LoadedModel:
        from churnops.core.lockfile import read_locked_model
        from churnops.pipeline.scorer import Scorer, md5_bytes

        if not is_project(self.repo):
            raise LockfileError(
                "no churnops project at the served path (no dvc.yaml or dvc.lock there): "
                "start `churnops serve --repo PATH` with PATH the project's root"
            )
        locked = read_locked_model(self.repo / paths.LOCK)
        path = self.repo / locked.path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelIntegrityError(f"{path}: model file not found (run `dvc checkout` or `dvc pull`)") from None
        except OSError as err:
            raise ModelIntegrityError(f"{path}: cannot read model file: {err}") from None
        try:
            scorer = Scorer.from_bytes(data, expected_md5=locked.md5, source=str(path))
        except ModelIntegrityError as err:
            if md5_bytes(data) != locked.md5:  # the file is not the one dvc.lock records: say how to get it
                raise ModelIntegrityError(
                    f"{err} (run `dvc checkout {locked.path}` to restore the recorded model)"
                ) from None
            raise
        return LoadedModel(
            scorer=scorer,
            version=locked.md5,
            path=locked.path,
            params=dict(locked.params),
            metrics=_read_metrics(self.repo / paths.EVALUATE_METRICS),
            git_commit=git_commit(self.repo),
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
