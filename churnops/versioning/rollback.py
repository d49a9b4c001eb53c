"""``churnops rollback VERSION|REV``: move ``prod`` back to an earlier model.

One registry commit, whatever changed in the code since: the model is named by its md5 and
served from the DVC cache, so no file of the work tree is restored and nothing is rewound.
The model comes from the cache, else the default remote, else (``rebuild_missing``) from
reproducing its commit in a temporary worktree; if it is nowhere, nothing changes.
"""

from __future__ import annotations

from pathlib import Path

from churnops.versioning import registry
from churnops.versioning.deploy import Log, Outcome, change, deploy, stderr
from churnops.versioning.git import LOCK_WAIT_SECONDS, repo_root
from churnops.versioning.registry import Tip
from churnops.versioning.versions import known_models, resolve


def rollback(
    repo: str | Path,
    spec: str,
    *,
    reason: str | None = None,
    rebuild_missing: bool = False,
    log: Log = stderr,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> Outcome:
    """Point ``prod`` at the model ``spec`` names (a Git revision, or an md5 prefix).

    Raises:
        ParamsError: ``spec`` names no model.
        ModelUnavailableError: the model is in neither the cache nor the remote (and not
            rebuilt); nothing changed.
        RegistryError, RemoteError, RepositoryBusyError: see :func:`.deploy.deploy`.
    """
    root = repo_root(repo)
    version = resolve(root, spec, known_models(root, registry.read(root)))

    def message(tip: Tip) -> registry.Change:
        return change("rollback", tip, version, [], reason)

    return deploy(
        root, "rollback", version, message=message, rebuild_missing=rebuild_missing, log=log, lock_wait=lock_wait
    )
