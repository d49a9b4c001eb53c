"""The champion the judge compares against: the model ``promote.champion`` pins by md5 in params.yaml.

Pinning by md5 (not by a file in the work tree) keeps every commit reproducible: promoting or
rolling back moves the registry's pointer, never a DVC dependency. The bytes come from the DVC
cache, else the default DVC remote (:mod:`churnops.versioning.store`), verified against the md5.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from churnops.core.errors import ModelUnavailableError, RemoteError
from churnops.versioning import store

if TYPE_CHECKING:
    from churnops.pipeline.scorer import Scorer

KEY = "promote.champion"
"""The param that pins the champion; promotion and rebuild read it from a ``dvc.lock`` by this name."""


def load(root: Path, md5: str) -> Scorer:
    """The pinned champion's scorer, read from the project at ``root``'s DVC cache or default remote.

    Raises:
        ModelUnavailableError: in neither; the message names ``promote.champion`` and what to run.
        RemoteError: the remote cannot be read (its message prefixed with ``promote.champion``).
        ModelIntegrityError: the cache's copy is corrupt (the store's message names the key too).
    """
    # Imported here: promotion and rebuild import this module for KEY, and need no numpy.
    from churnops.pipeline.scorer import Scorer

    what = f"{KEY} {md5}"
    try:
        data = store.read(root, md5, what)
    except ModelUnavailableError as err:
        raise ModelUnavailableError(
            f"{_named(err, what)}; run `dvc pull` with the remote that holds it (docs/remote-storage.md), "
            f"or set {KEY} in params.yaml to a model this project has (null: none)"
        ) from None
    except RemoteError as err:  # the remote's own words, prefixed with what was being read
        raise RemoteError(_named(err, what)) from None
    return Scorer.from_bytes(data, expected_md5=md5, source=what)


def _named(err: Exception, what: str) -> str:
    return str(err) if str(err).startswith(what) else f"{what}: {err}"
