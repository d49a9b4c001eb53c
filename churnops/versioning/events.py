"""The deployment history: every commit of the registry branch, as events, and prod's periods.

One ``git log`` of the registry's ref and one batched ``git cat-file`` of its ``registry.json``
blobs, whatever the length: each commit is an event (who, when, which action, why), and the
pointer before and after it comes from the file itself, so a commit made by hand is listed too
(as ``edit``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from churnops.core.errors import RegistryError
from churnops.versioning.git import cat_file_blobs, cat_file_check, git
from churnops.versioning.registry import FILE, PROD, TRAILERS, State, Tip, parse

_FIELD = "\x1f"  # unit separator: cannot appear in a sha, a date, a name or a one-line subject


@dataclass(frozen=True)
class Event:
    """One commit of the registry: ``prod`` moved (or was re-stated) by someone, for some reason."""

    commit: str
    date: str
    author: str
    action: str
    """``promote``, ``rollback``, or ``edit`` (a commit churnops did not write)."""
    model: str | None
    built_by: str | None
    previous: str | None
    reason: str | None
    subject: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Period:
    """A stretch of time a model was prod: the event that put it there and the one that ended it."""

    md5: str
    entered: Event
    left: Event | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "entered": self.entered.date,
            "entered_by": self.entered.commit,
            "left": self.left.date if self.left else None,
            "left_by": self.left.commit if self.left else None,
        }


def events(root: Path, tip: Tip) -> list[Event]:
    """The registry's events, newest first (empty when there is no registry).

    Raises:
        RegistryError: a commit's ``registry.json`` is unreadable (named).
    """
    if tip.commit is None:
        return []
    trailer = "%(trailers:key={},valueonly,separator=%x20)"
    fields = ["%H", "%P", "%aI", "%an", "%s", *(trailer.format(TRAILERS[k]) for k in ("action", "reason"))]
    fmt = _FIELD.join(fields)
    out = git(["log", "-z", "--topo-order", f"--format={fmt}", tip.commit], root).decode("utf-8", errors="replace")
    rows = [r.lstrip("\n").split(_FIELD) for r in out.split("\0") if r.strip()]
    names = [f"{r[0]}:{FILE}" for r in rows]
    oids = dict(zip(names, cat_file_check(root, names), strict=True))
    blobs = cat_file_blobs(root, (o for o in oids.values() if o))
    states: dict[str, State] = {}
    for sha, *_ in rows:
        oid = oids[f"{sha}:{FILE}"]
        if oid is None:
            raise RegistryError(f"registry commit {sha[:8]} has no {FILE}")
        states[sha] = parse(blobs[oid], f"{tip.name}@{sha[:8]}:{FILE}")
    result = []
    for sha, parents, date, author, subject, action, reason in rows:
        now = states[sha].prod
        first_parent = parents.split()[0] if parents.split() else None
        before = states[first_parent].prod if first_parent in states else None
        result.append(
            Event(
                commit=sha,
                date=date,
                author=author,
                action=action.strip() or "edit",
                model=now.md5 if now else None,
                built_by=now.commit if now else None,
                previous=before.md5 if before else None,
                reason=reason.strip() or None,
                subject=subject,
            )
        )
    return result


def periods(history: list[Event]) -> dict[str, list[Period]]:
    """Each model's stretches as prod, oldest first, from the events (newest first, as listed)."""
    out: dict[str, list[Period]] = {}
    current: Period | None = None
    for event in reversed(history):
        if current is not None and event.model == current.md5:
            continue  # re-stated, not moved
        if current is not None:
            out[current.md5][-1] = Period(current.md5, current.entered, event)
        current = Period(event.model, event, None) if event.model else None
        if current is not None:
            out.setdefault(current.md5, []).append(current)
    return out


__all__ = ["PROD", "Event", "Period", "events", "periods"]
