"""What names a model version: a Git revision, or the md5 (a prefix) of a model.

A version *is* a model file, named by its content: the md5 that DVC keys it by. A Git
revision names the model its ``dvc.lock`` records, so every accepted model of the history is a
version, including those committed before the registry existed. ``churnops rollback`` and
``churnops models`` resolve what a person types with :func:`resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from churnops.core import paths
from churnops.core.errors import LockfileError, ParamsError
from churnops.core.lockfile import LockedModel, locked_model, parse_lock
from churnops.versioning.events import events
from churnops.versioning.git import git, show_file
from churnops.versioning.history import model_history
from churnops.versioning.registry import Tip

MIN_PREFIX = 6
"""Shortest md5 prefix accepted: shorter ones collide too easily to name a model."""


@dataclass(frozen=True)
class Version:
    """A model and a commit whose ``dvc.lock`` records it (the one that built it, when known)."""

    md5: str
    commit: str
    label: str
    """What the person typed (``v1``, ``HEAD~2``, ``d8aab9``), for messages."""


def commit_of(root: Path, rev: str) -> str | None:
    """The full sha ``rev`` names, or ``None`` when it names no commit."""
    if not rev or rev.startswith("-"):
        return None
    out = git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], root, check=False)
    return out.decode().strip() or None


def model_at(root: Path, commit: str) -> LockedModel | None:
    """The model ``dvc.lock`` records at ``commit``, or ``None`` (no lock, no model, unreadable)."""
    data = show_file(root, commit, paths.LOCK)
    if data is None:
        return None
    try:
        return locked_model(parse_lock(data, f"{commit[:8]}:{paths.LOCK}"), paths.MODEL)
    except LockfileError:
        return None


def resolve(root: Path, spec: str, known: dict[str, str]) -> Version:
    """The version ``spec`` names: a Git revision (its dvc.lock's model) or an md5 prefix.

    ``known`` is ``{md5: commit that built it}`` of the models a prefix may name. Raises
    ParamsError when ``spec`` names nothing, a revision without a model, or several models.
    """
    spec = spec.strip()
    commit = commit_of(root, spec)
    lower = spec.lower()
    prefix_hits = (
        sorted(m for m in known if m.startswith(lower))
        if len(lower) >= MIN_PREFIX and all(c in "0123456789abcdef" for c in lower)
        else []
    )
    if commit is not None:
        model = model_at(root, commit)
        if model is None:
            raise ParamsError(f"{spec} ({commit[:8]}) records no model: its {paths.LOCK} has no {paths.MODEL}")
        if prefix_hits and prefix_hits != [model.md5]:
            raise ParamsError(f"{spec!r} is ambiguous: commit {commit[:8]} and model {prefix_hits[0][:12]}")
        # Name the commit that built it (a later commit of the same model, such as a tag on a
        # docs-only commit, records the same bytes): one model, one "built by" everywhere.
        return Version(model.md5, known.get(model.md5, commit), spec)
    if len(prefix_hits) == 1:
        return Version(prefix_hits[0], known[prefix_hits[0]], spec)
    if len(prefix_hits) > 1:
        shown = ", ".join(m[:12] for m in prefix_hits[:4])
        raise ParamsError(f"{spec!r} names several models ({shown}): give more digits")
    raise ParamsError(f"{spec!r} is neither a Git revision nor the md5 of a known model (`churnops models` lists them)")


def built_by(root: Path, md5: str, default: str) -> str:
    """The oldest commit of ``HEAD``'s history whose ``dvc.lock`` recorded ``md5``, else ``default``."""
    commits = [e.commit for e in model_history(root, current_md5="") if e.md5 == md5]
    return commits[-1] if commits else default


def known_models(root: Path, tip: Tip) -> dict[str, str]:
    """``{md5: commit that built it}`` of every model a person may name by md5: the history of
    ``HEAD`` (the oldest commit that recorded each) and every model the registry has named."""
    known: dict[str, str] = {}
    for entry in model_history(root, current_md5=""):
        if entry.md5 is not None:
            known[entry.md5] = entry.commit  # newest first: the oldest commit wins
    for event in events(root, tip):
        if event.model is not None and event.built_by is not None:
            known.setdefault(event.model, event.built_by)
    return known
