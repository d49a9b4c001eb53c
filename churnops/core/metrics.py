"""Which figures are DVC metrics: the project's one rule for metrics files.

``metrics/<stage>.json`` holds only the headline scalars of :data:`HEADLINE`, so that ``dvc
metrics show`` and ``dvc exp show`` fit a 160-column terminal. Every other figure goes to
``metrics/details/<stage>.json``, an ordinary DVC output, not a metric, so it never widens a table.

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

MAX_TABLE_WIDTH = 160


def split(stage: str, figures: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a stage's figures into ``(headline, details)``, nesting kept; branches it empties are dropped.

    Raises KeyError when a headline key is missing (a renamed figure must be renamed here too).
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
        # An empty dict that was already in `figures` stays.
        for depth in range(len(parents), 0, -1):
            branch = details
            for part in parents[: depth - 1]:
                branch = branch[part]
            if branch[parents[depth - 1]]:
                break
            del branch[parents[depth - 1]]
    return headline, details


def write(stage: str, figures: dict[str, Any], metrics: str | Path, details: str | Path) -> None:
    """Headline to ``metrics``, the rest to ``details``."""
    headline, rest = split(stage, figures)
    write_json(details, rest)
    write_json(metrics, headline)


def _copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in d.items()}
