"""``churnops models``: the versions, which one is prod, and the deployment history, side by side.

Versions are the models of the history (:mod:`.history`) and any other model the registry has
named (:func:`.history.entries_at`); each is marked with its time as prod. Below them, the
registry's events (:mod:`.events`): who moved prod, when, from which model to which, and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnops.versioning import registry
from churnops.versioning.events import Event, Period, events, periods
from churnops.versioning.history import ModelEntry, entries_at, model_history, workspace_model_md5
from churnops.versioning.registry import Entry, Tip


@dataclass(frozen=True)
class Listing:
    """Everything ``churnops models`` shows."""

    versions: list[ModelEntry]
    tip: Tip
    events: list[Event]
    periods: dict[str, list[Period]]
    current_md5: str | None

    @property
    def prod(self) -> Entry | None:
        return self.tip.state.prod


def build(root: Path, rev: str = "HEAD", *, include_params: bool = False) -> Listing:
    """Read the versions of ``rev``'s history, the registry and its events.

    Raises:
        GitError: ``rev`` is not a commit. RegistryError: the registry is unreadable.
    """
    current = workspace_model_md5(root)
    tip = registry.read(root)
    history = events(root, tip)
    versions = model_history(root, rev, current_md5=current, include_params=include_params)
    listed = {v.md5 for v in versions}
    extra = {e.model: e.built_by for e in history if e.model and e.built_by and e.model not in listed}
    if extra:
        versions = sorted([*versions, *entries_at(root, extra, current)], key=lambda v: v.date, reverse=True)
    return Listing(versions, tip, history, periods(history), current)


def distinct_digits(values: Sequence[float | None], minimum: int = 4, maximum: int = 10) -> int:
    """The fewest decimals (at least ``minimum``) that print different values differently."""
    distinct = {v for v in values if v is not None}
    for digits in range(minimum, maximum):
        if len({f"{v:.{digits}f}" for v in distinct}) == len(distinct):
            return digits
    return maximum


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _date(iso: str) -> str:
    return iso[:19].replace("T", " ")


def _changes(e: ModelEntry, shown: int = 3) -> str:
    parts = [f"{k} {old}->{new}" for k, (old, new) in e.params_changed.items()]
    text = ", ".join(parts[:shown]) + (f" (+{len(parts) - shown})" if len(parts) > shown else "")
    if e.change == "model":
        return "model" + (f": {text}" if text else "")
    return text


def _prod_cell(listing: Listing, e: ModelEntry) -> str:
    if e.change != "model" or e.md5 is None:
        return ""
    if listing.prod is not None and e.md5 == listing.prod.md5:
        return "now"
    return "was" if e.md5 in listing.periods else ""


def headline(listing: Listing) -> str:
    """One line: what is prod, since when, and where the registry is."""
    prod = listing.prod
    if prod is None:
        if listing.tip.commit is None:
            return f"prod: none (no {registry.BRANCH} branch yet: `churnops promote` makes the first entry)"
        return f"prod: none ({listing.tip.name} names no prod model)"
    since = listing.periods.get(prod.md5, [])
    when = f", since {_date(since[-1].entered.date)} ({since[-1].entered.action})" if since else ""
    where = f"registry {listing.tip.name} @ {str(listing.tip.commit)[:8]}"
    return f"prod: {prod.md5[:12]}, built by {prod.commit[:8]}{when}; {where}"


def format_table(listing: Listing, *, changes: bool = False) -> str:
    """The human listing: prod, the versions (``*`` the workspace's model), then the history of prod.

    F1 and ROC AUC get as many decimals as it takes to tell apart models whose values differ
    (at least 4). Plain text off a terminal, one line per row (:mod:`churnops.core.terminal`).
    """
    from rich.table import Table

    from churnops.core.terminal import render

    out: list[Any] = [headline(listing)]
    entries = listing.versions
    if not entries:
        out.append("no accepted model in this history (dvc.lock never recorded models/model.json)")
    else:
        f1_digits = distinct_digits([e.f1 for e in entries])
        auc_digits = distinct_digits([e.roc_auc for e in entries])
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in ("", "MD5", "BUILT BY", "DATE", "F1", "ROC_AUC", "GATE_F1", "PROD", "TAGS"):
            table.add_column(name, no_wrap=True)
        # On a narrow terminal the free text wraps within its column; the fixed fields never do.
        for name in ("CHANGE", "SUBJECT") if changes else ("SUBJECT",):
            table.add_column(name)
        for e in entries:
            row = [
                "*" if e.current else "",
                (e.md5 or "-")[:12],
                e.short,
                _date(e.date),
                _fmt(e.f1, f1_digits),
                _fmt(e.roc_auc, auc_digits),
                _fmt(e.gate_f1, 2),
                _prod_cell(listing, e),
                ",".join(e.tags) or "-",
            ]
            if changes:
                row.append(_changes(e))
            row.append(e.subject)
            table.add_row(*row, style="bold" if _prod_cell(listing, e) == "now" else None)
        out.append(table)
        if listing.current_md5 and not any(e.current for e in entries):
            out.append(f"the workspace's model ({listing.current_md5}) is not recorded by any commit listed above")
    if listing.events:
        history = Table(box=None, pad_edge=False, header_style="bold", title="history of prod", title_justify="left")
        for name in ("DATE", "ACTION", "FROM", "TO", "BY", "COMMIT"):
            history.add_column(name, no_wrap=True)
        history.add_column("REASON")
        for ev in listing.events:
            cells = (ev.previous or "-")[:12], (ev.model or "-")[:12], ev.author, ev.commit[:8], ev.reason or ""
            history.add_row(_date(ev.date), ev.action, *cells)
        out += ["", history]
    return render(*out)


def to_json(listing: Listing) -> dict[str, Any]:
    """The ``--json`` form: prod, the versions (each with its periods as prod), the events."""
    prod = listing.prod
    where = {"registry": listing.tip.name, "registry_commit": listing.tip.commit}
    return {
        "prod": None if prod is None else {**prod.to_dict(), **where},
        "versions": [
            {**e.to_dict(), "prod": [p.to_dict() for p in listing.periods.get(e.md5 or "", [])]}
            for e in listing.versions
        ],
        "events": [ev.to_dict() for ev in listing.events],
    }
