"""The whole drift check, shared by the ``monitor`` stage and ``churnops monitor``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnops.core.errors import InputError
from churnops.monitor.plots import plot_rows
from churnops.monitor.quality import quality_report, summarize
from churnops.monitor.records import parse_line
from churnops.monitor.tail import BLOCK_SIZE, LogReadError, read_window
from churnops.monitor.verdict import drift_report, headline

if TYPE_CHECKING:
    from churnops.core.trainstats import TrainStats
    from churnops.monitor.rules import Rules


@dataclass(frozen=True)
class CheckResult:
    """The full drift report, its headline (``metrics/drift.json``) and its plot rows per feature."""

    report: dict[str, Any]
    plots: dict[str, list[dict[str, Any]]]

    @property
    def headline(self) -> dict[str, Any]:
        return headline(self.report)


def _names(logs: str | Path | Sequence[str | Path]) -> str:
    items = [logs] if isinstance(logs, str | Path) else list(logs)
    return ", ".join(str(x) for x in items)


def check(
    logs: str | Path | Sequence[str | Path],
    stats: TrainStats,
    rules: Rules,
    last_n: int,
    block_size: int = BLOCK_SIZE,
) -> CheckResult:
    """Compare the newest ``last_n`` lines of ``logs`` (and their rotations) with ``stats``.

    A missing or empty log is not an error but ``insufficient_data`` (a fresh deployment has no
    traffic yet); a log that exists but cannot be read is an InputError.
    """
    try:
        window = read_window(logs, last_n, parse_line, block_size=block_size)
    except LogReadError as err:
        raise InputError(str(err)) from None
    note = None
    if not window.files:
        note = f"log {_names(logs)} not found (has a service or the generate stage written it yet?)"
    elif not window.entries:
        note = f"log {_names(logs)} is empty"
    cols, counts = summarize(window.entries, window.blank_lines)
    quality = quality_report(counts, rules.max_invalid_fraction)
    report = drift_report(cols, stats, rules, last_n, quality=quality, note=note)
    return CheckResult(report=report, plots=plot_rows(cols, stats, report))
