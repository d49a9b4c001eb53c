"""The model-loading seam: the registry's ``prod`` -> verified bytes -> an immutable :class:`LoadedModel`.

One thing decides what is served: the ``prod`` entry of the model registry
(:mod:`churnops.versioning.registry`), a Git branch no checkout or edit of the work tree
touches, naming the model by md5 and by the commit that built it. The loader then

1. reads that commit's ``dvc.lock`` and ``metrics/evaluate.json`` from Git objects, and refuses
   a registry whose commit's ``dvc.lock`` does not record that md5;
2. gets the bytes by md5 (:func:`churnops.versioning.store.read`), which
   :meth:`churnops.pipeline.scorer.Scorer.from_bytes` checks *before* parsing them.

The work tree's ``models/model.json`` and ``dvc.lock`` are never read.

A refusal's message is shown to unauthenticated callers (``/health``, the 503 body): one line
that says what to run, with no absolute server path (:func:`public`); the server log gets the
full message.

Length: one concern, the path from the registry entry to a served model, and the one-line
refusal for each way it fails.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from churnops.core import paths
from churnops.core.errors import (
    ChurnopsError,
    GitError,
    LockfileError,
    ModelUnavailableError,
    RegistryError,
    RemoteError,
)
from churnops.versioning import registry
from churnops.versioning.git import cat_file_blobs, git

if TYPE_CHECKING:
    from churnops.pipeline.scorer import Scorer

logger = logging.getLogger("churnops.service")

STAGE = registry.PROD


@dataclass(frozen=True)
class LoadedModel:
    """One verified model and what an operator wants to know about it.

    Immutable: a reload builds a new one and swaps the reference, so a request that
    started on this model finishes on it.
    """

    scorer: Scorer
    version: str
    """The model's md5, which its bytes were checked against."""
    built_by: str
    """The commit whose ``dvc.lock`` records the model (its params and metrics come from there)."""
    registry_ref: str
    registry_commit: str
    """``git show`` it for who promoted the model and why."""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    loaded_at: str = ""

    @property
    def threshold(self) -> float:
        return self.scorer.threshold


class ModelLoader(Protocol):
    """Anything that can produce the model to serve, or raise a ChurnopsError saying why not."""

    def load(self) -> LoadedModel: ...


@dataclass(frozen=True)
class Resolved:
    """What the registry says to serve, checked against Git, before any byte of the model is read."""

    md5: str
    built_by: str
    registry_ref: str
    registry_commit: str
    params: dict[str, Any]
    metrics: dict[str, Any] | None

    @property
    def what(self) -> str:
        """How messages name the model (:mod:`churnops.versioning.store` starts its own with it)."""
        return f"model {self.md5[:12]} ({STAGE})"


def resolve(root: Path, ref: str | None = None) -> Resolved:
    """The registry's ``prod`` at ``root``, with its metadata from the commit that built it; Git only.

    ``ref`` None: the local branch, else the single remote-tracking one.

    Raises:
        GitError: ``root`` is not in a Git work tree, or git failed.
        RegistryError: no ``prod`` yet, an unreadable registry, or a ``prod`` its commit did not build.
    """
    try:
        tip = registry.read(root, ref)
    except GitError:
        _check_work_tree(root)  # the likely cause, in words that say what to do
        raise
    except RegistryError as err:
        raise _unreadable(root, ref, err) from None
    if tip.commit is None:
        raise RegistryError(
            f"no model registry yet (no {registry.BRANCH} branch, local or remote-tracking): run `churnops promote`"
        )
    entry = tip.state.prod
    if entry is None:
        raise RegistryError(f"{tip.name} names no {STAGE} model: run `churnops promote`")
    params, metrics = _built_by(root, entry, tip.name)
    return Resolved(entry.md5, entry.commit, tip.name, tip.commit, params, metrics)


def _check_work_tree(root: Path) -> None:
    """Raise GitError, saying what to do, if ``root`` is not in a Git work tree (so has no registry)."""
    fix = "serve a clone of the project (`git clone URL DIR && churnops serve --repo DIR`)"
    if not root.is_dir():
        raise GitError(f"the served directory does not exist: {fix}")
    inside = git(["rev-parse", "--is-inside-work-tree"], root, check=False).decode().strip()
    if inside != "true":
        raise GitError(f"the served directory is not in a Git work tree, so it has no model registry: {fix}")


def _unreadable(root: Path, ref: str | None, err: RegistryError) -> RegistryError:
    """``err`` (the registry could not be read) with what to do about it."""
    try:
        full = registry.resolve_ref(root, ref)
    except RegistryError:  # the ref: unknown, or (no ref given) several remotes, which says what to do
        if ref is None:
            return err
        return RegistryError(f"{err} (set by --registry-ref or CHURNOPS_REGISTRY_REF; `git branch -a` lists them)")
    name = registry.Tip(full, None, registry.State()).name
    return RegistryError(
        f"{err}: registry.json is written only by `churnops promote` and `churnops rollback`; "
        f"find the hand edit with `git log -p {name}` and undo it"
    )


def _built_by(root: Path, entry: registry.Entry, where: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Train params and test metrics from the commit that built ``entry``; RegistryError if it did not."""
    from churnops.core.lockfile import locked_model, parse_lock

    commit, short = entry.commit, entry.commit[:12]
    # ``REV:./path`` is relative to ``root``, wherever the project sits in its repository.
    lock_name, metrics_name = (f"{commit}:./{p}" for p in (paths.LOCK, paths.EVALUATE_METRICS))
    blobs = cat_file_blobs(root, [lock_name, metrics_name])
    fix = "point prod at a model its commit built (`churnops promote` or `churnops rollback`)"
    if lock_name not in blobs:
        if not git(["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], root, check=False).strip():
            raise RegistryError(
                f"{where}: {STAGE} was built by commit {short}, which this repository does not have: "
                "run `git fetch` (its dvc.lock and metrics describe the model)"
            )
        raise RegistryError(f"{where}: {STAGE}'s commit {short} has no {paths.LOCK}: {fix}")
    source = f"{short}:{paths.LOCK}"
    try:
        locked = locked_model(parse_lock(blobs[lock_name], source), paths.MODEL, source)
    except LockfileError as err:
        raise RegistryError(f"{where}: {STAGE}'s commit did not build it: {err}; {fix}") from None
    if locked.md5 != entry.md5:
        raise RegistryError(
            f"{where}: {STAGE} names model {entry.md5[:12]}, but the {paths.LOCK} of its commit {short} records "
            f"{locked.md5[:12]}: {fix}"
        )
    return dict(locked.params), _metrics(blobs.get(metrics_name))


def _metrics(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def describe(root: Path, ref: str | None = None) -> str:
    """What the workers of a server at ``root`` will serve, in one line (``churnops serve``'s banner), or why nothing.

    Loaded as a worker loads it, so a model the workers will refuse (a corrupt cache copy) is
    reported with their refusal, not its md5; a model fetched from the remote lands in the cache.
    """
    try:
        model = RegistryModelLoader(root, ref).load()
    except ChurnopsError as err:
        return f"none: {err}; /health answers 503 until then, and a reload picks it up"
    where = f"{STAGE} in {model.registry_ref} at {model.registry_commit[:12]}, built by {model.built_by[:12]}"
    return f"{model.version} ({where})"


class RegistryModelLoader:
    """Loads the registry's ``prod`` model of the repository at ``repo``, verified against its md5."""

    def __init__(self, repo: str | Path, ref: str | None = None) -> None:
        self.repo = Path(repo)
        self.ref = ref

    def load(self) -> LoadedModel:
        """Resolve ``prod``, fetch and verify its bytes, parse them.

        Raises:
            ChurnopsError: as :func:`resolve` and :func:`churnops.versioning.store.read` do, with a
                message fit for callers (:func:`public`).
        """
        try:
            return self._load()
        except ChurnopsError as err:
            logger.error("cannot load a model from %s: %s", self.repo.resolve(), err)
            err.args = (public(str(err), self.repo),)
            raise err from None

    def _load(self) -> LoadedModel:
        from churnops.pipeline.scorer import Scorer
        from churnops.versioning import store

        r = resolve(self.repo, self.ref)
        try:
            data = store.read(self.repo, r.md5, r.what)
        except ModelUnavailableError as err:
            raise ModelUnavailableError(f"{err}: {_how_to_get(self.repo, r)}") from None
        except RemoteError as err:
            raise RemoteError(f"{err}: fix the remote or its URL (`dvc remote list`), then reload") from None
        scorer = Scorer.from_bytes(data, expected_md5=r.md5, source=r.what)
        return LoadedModel(
            scorer=scorer,
            version=r.md5,
            built_by=r.built_by,
            registry_ref=r.registry_ref,
            registry_commit=r.registry_commit,
            params=r.params,
            metrics=r.metrics,
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )


def _how_to_get(root: Path, r: Resolved) -> str:
    """What to run when the model's bytes are in neither the cache nor the remote."""
    from churnops.versioning import store
    from churnops.versioning.remote import default_remote

    rebuild = f"rebuild it (`git switch --detach {r.built_by[:12]} && dvc repro && git switch -`)"
    try:
        with store.dvc_repo(root) as repo:
            remote = default_remote(repo)
    except ModelUnavailableError:
        return "serve the project's root, the directory holding .dvc/ (`churnops serve --repo DIR`)"
    if remote is None:
        configure = "configure the DVC remote that holds it (`dvc remote add -d NAME URL`; a reload fetches it)"
        return f"{configure}, or {rebuild}"
    return f"push it from a clone that has it (`dvc push`), or {rebuild}"


_ABSOLUTE = re.compile(r"(?<![\w.~/:@-])(?:file://)?/[^\s'\"(),;]+")
"""An absolute path in a message: not a relative path's separator, nor a URL's ``//host/...``."""


def public(message: str, root: Path) -> str:
    """``message`` fit for unauthenticated callers: no absolute server path.

    Paths inside the project become relative to it; any other absolute path (a DVC cache or
    a local remote elsewhere, git's own words) keeps only its last component (``…/remote``).
    """
    for prefix in sorted({str(root.resolve()), str(root.absolute())}, key=len, reverse=True):
        if prefix != "/":
            message = message.replace(prefix + "/", "").replace(prefix, ".")
    return _ABSOLUTE.sub(lambda m: f"…/{PurePosixPath(m.group().removeprefix('file://')).name}", message)


def public_path(path: str | Path, root: Path) -> str:
    """A server path fit for unauthenticated callers, as :func:`public` words it in messages."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    for base in (root.resolve(), root.absolute()):
        if p.is_relative_to(base):
            return p.relative_to(base).as_posix() or "."
    return f"…/{p.name}"
