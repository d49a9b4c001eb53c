"""Read what ``dvc.lock`` records: the single authority on which model is accepted.

In ``core`` because the service and versioning both read it. DVC writes ``dvc.lock`` only after
a stage succeeds, so its ``train`` model hash is that of a model that passed the quality gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from churnops.core import paths
from churnops.core.errors import LockfileError
from churnops.core.io import read_text

TRAIN_STAGE = "train"


@dataclass(frozen=True)
class LockedModel:
    """The accepted model as ``dvc.lock`` records it."""

    path: str
    md5: str
    size: int | None
    params: dict[str, Any]  # the train stage's params as DVC recorded them


def parse_lock(text: str | bytes, source: str = paths.LOCK) -> dict[str, Any]:
    """The project's one dvc.lock parser; raises LockfileError on text that is not a dvc.lock.

    libyaml when available: a 500-commit history parses ~8x faster.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        raise LockfileError(f"{source}: not valid YAML: {err}".replace("\n", " ")) from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise LockfileError(f"{source}: not a dvc.lock file (no 'stages' mapping)")
    return data


def locked_model(lock: dict[str, Any], model_path: str = paths.MODEL, source: str = paths.LOCK) -> LockedModel:
    """The model output and the train params of a parsed lock; LockfileError if no stage outputs it."""
    for stage in lock["stages"].values():
        for out in (stage or {}).get("outs") or []:
            if out.get("path") == model_path and out.get("md5"):
                params: dict[str, Any] = {}
                for values in (stage.get("params") or {}).values():
                    params.update(values or {})
                return LockedModel(path=model_path, md5=str(out["md5"]), size=out.get("size"), params=params)
    raise LockfileError(f"{source}: records no {model_path} (has `dvc repro` run and committed?)")


def read_locked_model(lock_path: str | Path = paths.LOCK, model_path: str = paths.MODEL) -> LockedModel:
    """:func:`locked_model` of the ``dvc.lock`` file."""
    text = read_text(lock_path, "lock file", LockfileError, hint=" (run `dvc repro` first)")
    return locked_model(parse_lock(text, str(lock_path)), model_path, str(lock_path))
