"""Which figures are DVC metrics: the project's one rule for metrics files.

A declared DVC metrics file, ``metrics/<stage>.json``, holds only the headline scalars listed
in :data:`HEADLINE`, so that ``dvc metrics show`` and ``dvc exp show`` (as the README writes
them) fit a 160-column terminal. Every other figure of a stage (per-reason counts, row counts,
the decision threshold...) goes to ``metrics/details/<stage>.json``: plain JSON, an ordinary
DVC output (in the DVC cache like the data, restored by ``dvc checkout``), not a DVC metric, so
it never widens a table. Read it with ``cat``, or ``dvc get . metrics/details/<stage>.json
--rev REV`` for another revision.

Why not ``cache: false`` (in Git, like the metrics): DVC turns its run-cache off for a stage
with a ``cache: false`` output that is not a metric or a plot, and the run-cache is what lets
``dvc repro`` restore ``train`` instead of re-running it when params return to a value already
run (docs/git-workflow.md relies on it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from churnops.core.io import write_json

HEADLINE: dict[str, tuple[str, ...]] = {
    "prepare": ("rejected_fraction",),
    "train": ("gate.f1", "gate.gate_f1", "gate.passed"),
    "evaluate": ("f1", "roc_auc"),
    "feedback": ("f1",),  # status in details: "insufficient_labels" would widen the table past 160
    "judge": ("verdict",),  # gain, bound, md5s, F1s: details (a gain and its bound widen the table past 160)
}
"""Dotted keys of the headline scalars of each stage's metrics file."""

MAX_TABLE_WIDTH = 160
"""The terminal width the README's ``dvc metrics show`` and ``dvc exp show`` must fit."""


def split(stage: str, figures: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a stage's figures into ``(headline, details)`` by :data:`HEADLINE`.

    Nesting is kept on both sides (``gate.f1`` stays ``{"gate": {"f1": ...}}``); a branch
    that the split leaves empty in the details is dropped.

    Raises:
        KeyError: a headline key is missing from ``figures`` (a renamed figure must be
            renamed here too).
    """
    headline: dict[str, Any] = {}
    details: dict[str, Any] = _copy(figures)
    for dotted in HEADLINE[stage]:
        *parents, leaf = dotted.split(".")
        src, dst, rest = figures, headline, details
        for part in parents:
            src, dst, rest = src[part], dst.setdefault(part, {}), rest[part]
        value = src[leaf]
        if isinstance(value, dict):
            raise ValueError(f"{stage}: headline {dotted} is not a scalar")
        dst[leaf] = value
        del rest[leaf]
        # Drop the branches this split emptied (an empty dict that was in `figures` stays).
        for depth in range(len(parents), 0, -1):
            branch = details
            for part in parents[: depth - 1]:
                branch = branch[part]
            if branch[parents[depth - 1]]:
                break
            del branch[parents[depth - 1]]
    return headline, details


def write(stage: str, figures: dict[str, Any], metrics: str | Path, details: str | Path) -> None:
    """Write a stage's figures as the rule says: headline to ``metrics``, the rest to ``details``."""
    headline, rest = split(stage, figures)
    write_json(details, rest)
    write_json(metrics, headline)


def _copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in d.items()}
