"""Helpers for tests of the service: a real model trained in-process, a repository whose registry
serves it, and the test client.

Training on ~3,000 generated rows takes well under a second, so a test gets a real,
md5-verified model without running DVC. A served repository is what ``dvc repro``, a commit
and ``churnops promote`` leave behind, made directly:

- a Git repository with a ``.dvc/`` directory holding a ``config`` (all DVC's ``Repo()`` needs
  to find the cache), the model object in the cache layout (``.dvc/cache/files/md5/..``,
  read-only as DVC leaves it) and in the work tree (``models/model.json``, Git-ignored);
- a commit on ``main`` holding ``dvc.lock`` (recording the model's md5 and train params) and
  ``metrics/evaluate.json``: the built-by commit;
- a ``churnops/registry`` commit naming it ``prod``, written by the registry itself.

Building one takes a dozen git processes, so :func:`served_repo` builds each distinct
repository once per test process and copies it per test. The fixtures built on these live
in ``tests/service/conftest.py``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from churnops.core.params import TrainParams
from churnops.pipeline.export import export_model
from churnops.pipeline.scorer import md5_bytes, model_bytes
from churnops.pipeline.train import TrainResult, train
from churnops.versioning import registry
from tests.utils.factories import labelled_customers, train_params
from tests.utils.project import env

with warnings.catch_warnings():
    # Starlette 1.x deprecates its httpx-based TestClient in favour of httpx2, which is not
    # in requirements.lock; the client works and is what FastAPI documents.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = [
    "TOKEN",
    "TestClient",
    "Trained",
    "build",
    "cache_object",
    "deploy",
    "dvc_config",
    "fit",
    "flip_one_byte",
    "git",
    "local_remote",
    "promote",
    "served_repo",
]

TOKEN = "s3cret-token"
"""The admin token of the test services."""


@dataclass(frozen=True)
class Trained:
    """A fitted model and its exported bytes, as DVC would record them."""

    params: TrainParams
    result: TrainResult
    data: bytes
    md5: str


def fit(params: dict[str, Any], n: int = 3000, seed: int = 0) -> Trained:
    """Train on ``n`` generated customers with the fixture's train params updated by ``params``."""
    p = train_params(**params)
    result = train(labelled_customers(n, seed), p)
    data = model_bytes(export_model(result.pipeline, p.threshold))
    return Trained(p, result, data, md5_bytes(data))


def git(repo: Path, *args: str, input: str | None = None) -> str:
    """``git ARGS`` in ``repo`` (fixed identity, no system config); its stdout, stripped."""
    proc = subprocess.run(["git", *args], cwd=repo, env=env(), input=input, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def flip_one_byte(path: Path, offset: int = 40) -> None:
    """Corrupt a file in place (also a read-only one, as DVC leaves its cache)."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- building a served repository


_GIT_CONFIG = """[user]
\tname = churnops test
\temail = test@churnops.invalid
[commit]
\tgpgsign = false
"""
"""Appended to each repository's own config: the registry writes commits in-process, with the
test process's environment, which has no identity of its own."""


def _new_repo(repo: Path) -> Path:
    """An empty project repository on ``main``, with the ``.dvc/`` DVC needs and nothing committed."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main", "--template=")  # no sample hooks: less to copy per test
    with (repo / ".git" / "config").open("a") as fh:
        fh.write(_GIT_CONFIG)
    (repo / ".dvc").mkdir()
    dvc_config(repo)
    (repo / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    (repo / "models").mkdir()
    (repo / "models" / ".gitignore").write_text("/model.json\n")
    return repo


def cache_object(repo: Path, md5: str, root: Path | None = None) -> Path:
    """Where DVC 3 keeps object ``md5``: ``<cache>/files/md5/ab/cdef...`` (``root``: a remote's directory)."""
    base = root if root is not None else repo / ".dvc" / "cache"
    return base / "files" / "md5" / md5[:2] / md5[2:]


def _store(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
        path.chmod(0o444)


def lock_text(model: Trained) -> str:
    """A minimal ``dvc.lock`` recording ``model`` as the train stage's output, with its params."""
    params = {"train.model": model.params.model, "train.threshold": model.params.threshold}
    out = {"path": "models/model.json", "hash": "md5", "md5": model.md5, "size": len(model.data)}
    lock = {"schema": "2.0", "stages": {"train": {"cmd": "python stages/train.py",
                                                  "params": {"params.yaml": params}, "outs": [out]}}}  # fmt: skip
    return yaml.safe_dump(lock)


def build(repo: Path, model: Trained, metrics: dict[str, Any] | None = None) -> str:
    """What ``dvc repro`` and a commit leave on the checked-out branch; returns the commit.

    The work tree gets ``models/model.json``, ``dvc.lock`` and ``metrics/evaluate.json``, the
    DVC cache the object, and the commit the lock and metrics.
    """
    (repo / "models" / "model.json").write_bytes(model.data)
    _store(cache_object(repo, model.md5), model.data)
    (repo / "dvc.lock").write_text(lock_text(model))
    if metrics is not None:
        (repo / "metrics").mkdir(exist_ok=True)
        (repo / "metrics" / "evaluate.json").write_text(json.dumps(metrics))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"train: model {model.md5[:12]}")
    return git(repo, "rev-parse", "HEAD")


def promote(repo: Path, md5: str, commit: str) -> str:
    """Move ``prod`` to (``md5``, ``commit``) with the registry's own writer; returns the registry commit."""
    change = registry.Change("promote", registry.PROD, registry.Entry(md5, commit), subject=f"promote {md5[:12]}")
    return registry.write(repo, change, expect=registry.read(repo))


def deploy(repo: Path, model: Trained, metrics: dict[str, Any] | None = None) -> str:
    """:func:`build` then :func:`promote`: ``model`` becomes prod; returns its built-by commit."""
    commit = build(repo, model, metrics)
    promote(repo, model.md5, commit)
    return commit


def dvc_config(repo: Path, remote: Path | None = None, cache: Path | None = None) -> None:
    """Write ``repo``'s ``.dvc/config``: DVC's per-repository state in this process's own
    directory (:func:`_site_dir`), ``remote`` (a directory) as the default remote and ``cache``
    as the cache directory, if given."""
    text = f"[core]\n    site_cache_dir = {_site_dir()}\n"
    if remote is not None:
        text += f"    remote = storage\n['remote \"storage\"']\n    url = {remote}\n"
    if cache is not None:
        text += f"[cache]\n    dir = {cache}\n"
    (repo / ".dvc" / "config").write_text(text)


def local_remote(repo: Path, remote: Path, *models: Trained) -> Path:
    """Make ``remote`` (a directory) the default DVC remote of ``repo``, holding ``models``."""
    remote.mkdir(parents=True, exist_ok=True)
    for model in models:
        _store(cache_object(repo, model.md5, remote), model.data)
    dvc_config(repo, remote)
    return remote


_templates: dict[tuple[str, str], Path] = {}
_dirs: dict[str, Path] = {}


def _temp_dir(name: str, parent: str | None = None) -> Path:
    """A directory of this process, made on first use and removed when it exits."""
    if name not in _dirs:
        path = Path(tempfile.mkdtemp(prefix=f"churnops-{name}-", dir=parent))
        atexit.register(shutil.rmtree, path, True)
        _dirs[name] = path
    return _dirs[name]


def _template_dir() -> Path:
    return _temp_dir("served")


SHM = Path("/dev/shm")


def _site_dir() -> Path:
    """Where DVC keeps its per-repository state (sqlite): RAM when the machine has a tmpfs.

    DVC creates that state on a repository's first ``Repo()``, under a directory named after
    its path, so every copy pays it: ~140 ms on this disk (sqlite syncs), ~15 ms on tmpfs.
    Its default, ``/var/tmp/dvc``, would also keep one directory per copy after the tests.
    """
    shm = str(SHM) if SHM.is_dir() and os.access(SHM, os.W_OK) else None
    return _temp_dir("dvc-site", shm)


def served_repo(dest: Path, model: Trained, metrics: dict[str, Any] | None = None) -> Path:
    """A project repository at ``dest`` whose registry serves ``model`` (see the module docstring).

    Built once per (model, metrics) in this process, then copied: each test gets its own.
    """
    key = (model.md5, json.dumps(metrics, sort_keys=True))
    template = _templates.get(key)
    if template is None:
        template = _new_repo(_template_dir() / str(len(_templates)))
        deploy(template, model, metrics)
        _templates[key] = template
    shutil.copytree(template, dest, symlinks=True)
    return dest
