"""Deploying is moving a pointer: ``prod`` in the registry, to a model named by its md5.

:func:`deploy` is what ``churnops promote`` (:mod:`.promotion`) and ``churnops rollback``
(:func:`rollback`) share: under the repository lock, make sure the model's bytes are in the
DVC cache and on the default remote, then write one registry commit. Nothing in the work tree,
the index or ``HEAD`` is read or written, so a rollback works across any code change in between.

A kill at any instant leaves the old or the new pointer in force (:mod:`.registry`), and a
plain retry completes: every step before that write only adds content-addressed objects.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from churnops.core.errors import ModelUnavailableError, RemoteError
from churnops.versioning import registry, store
from churnops.versioning.faults import fault
from churnops.versioning.git import LOCK_WAIT_SECONDS, repo_lock, repo_root
from churnops.versioning.registry import PROD, Change, Entry, Tip
from churnops.versioning.versions import Version, known_models, resolve

Log = Callable[[str], None]


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Outcome:
    """What :func:`deploy` did."""

    action: str
    version: Version
    previous: Entry | None
    registry_ref: str = registry.BRANCH
    registry_commit: str | None = None  # None when nothing changed (already prod)
    rebuilt: int = 0
    remote: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def already(self) -> bool:
        return self.registry_commit is None


def short(md5: str | None) -> str:
    return "none" if md5 is None else md5[:12]


def _available(root: Path, version: Version, what: str, rebuild_missing: bool, outcome: Outcome, log: Log) -> None:
    """Make sure the cache holds the model, from the remote or by rebuilding; the registry is untouched."""
    try:
        store.ensure(root, version.md5, what)
        return
    except (ModelUnavailableError, RemoteError) as err:
        if not rebuild_missing:
            raise
        log(f"warning: {err}; rebuilding it from {version.commit[:8]}")
    from churnops.versioning.rebuild import rebuild

    outcome.rebuilt = rebuild(root, version, log)
    store.ensure(root, version.md5, what)


def _share(root: Path, md5: str, outcome: Outcome) -> None:
    """Put the model on the default remote before it becomes prod: serving machines fetch it there.

    ``dvc push`` sends the work tree's outputs, which need not include prod's model. A remote that
    fails is a warning, not a refusal: an incident's rollback must not wait for the storage.
    """
    try:
        remote = store.push(root, md5)
    except RemoteError as err:
        outcome.warnings.append(
            f"warning: {err}: model {short(md5)} is not on the remote; machines without it in their cache cannot "
            "serve it until it is pushed (`churnops rollback`/`promote` again, or `dvc push` at its commit)"
        )
        return
    outcome.remote = remote.name if remote else None


def deploy(
    repo: str | Path,
    action: str,
    version: Version,
    *,
    message: Callable[[Tip], Change],
    check: Callable[[Tip], None] = lambda tip: None,
    rebuild_missing: bool = False,
    log: Log = stderr,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> Outcome:
    """Point ``prod`` at ``version``'s model, as one registry commit.

    ``message`` and ``check`` (raises to refuse) see the registry as it stands under the lock;
    ``rebuild_missing`` reproduces a model in neither the cache nor the remote from its commit.

    Raises:
        RegistryError: refused by ``check``, or the registry moved meanwhile; nothing changed.
        ModelUnavailableError, ModelIntegrityError, RemoteError: the model cannot be provided.
        RepositoryBusyError: another churnops command holds the repository lock.
    """
    root = repo_root(repo)
    with repo_lock(root, f"churnops {action} {version.label}", lock_wait):
        fault("locked")
        tip = registry.read(root)
        outcome = Outcome(action, version, tip.state.prod, registry_ref=tip.name)
        if tip.state.prod is not None and tip.state.prod.md5 == version.md5:
            return outcome
        check(tip)
        what = f"model {short(version.md5)} ({version.label}, built by {version.commit[:8]})"
        _available(root, version, what, rebuild_missing, outcome, log)
        _share(root, version.md5, outcome)
        fault("model-ready")
        outcome.registry_commit = registry.write(root, message(tip), tip)
        outcome.registry_ref = registry.BRANCH
    return outcome


def change(action: str, tip: Tip, version: Version, body: list[str], reason: str | None) -> Change:
    """The audit commit of moving ``prod`` from where ``tip`` has it to ``version``."""
    before = tip.state.prod
    lines = [f"Model {version.md5}, built by {version.commit} ({version.label})."]
    lines.append(
        f"Previous prod: {before.md5}, built by {before.commit}." if before else "Previous prod: none (first entry)."
    )
    return Change(
        action=action,
        stage=PROD,
        entry=Entry(version.md5, version.commit),
        subject=f"{action}: prod {short(before.md5 if before else None)} -> {short(version.md5)}",
        body="\n".join([*lines, *body]),
        reason=reason,
    )


def rollback(
    repo: str | Path,
    spec: str,
    *,
    reason: str | None = None,
    rebuild_missing: bool = False,
    log: Log = stderr,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> Outcome:
    """Point ``prod`` at the model ``spec`` names (a Git revision, or an md5 prefix): :func:`deploy`.

    Raises ParamsError when ``spec`` names no model; otherwise as :func:`deploy`.
    """
    root = repo_root(repo)
    version = resolve(root, spec, known_models(root, registry.read(root)))

    def message(tip: Tip) -> Change:
        return change("rollback", tip, version, [], reason)

    return deploy(
        root, "rollback", version, message=message, rebuild_missing=rebuild_missing, log=log, lock_wait=lock_wait
    )
