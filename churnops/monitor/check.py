"""The whole drift check, shared by the ``monitor`` stage and ``churnops monitor``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnops.errors import DataError
from churnops.monitor.drift import Rules, columns, drift_report, plot_rows
from churnops.monitor.records import parse_line
from churnops.monitor.tail import BLOCK_SIZE, LogReadError, tail_records


class InputError(DataError):
    """An input (the log, the training statistics) exists but cannot be used.

    Exit code 2: to a CLI caller this is a bad argument, not a drift finding (exit 1).
    """

    exit_code = 2


@dataclass(frozen=True)
class CheckResult:
    """A drift report (the content of ``metrics/drift.json``) and its plot rows per feature."""

    report: dict[str, Any]
    plots: dict[str, list[dict]]


def check(log: str | Path, stats: dict, rules: Rules, last_n: int, block_size: int = BLOCK_SIZE) -> CheckResult:
    """Compare the newest ``last_n`` usable records of ``log`` (and its rotations) with ``stats``.

    A missing or empty log is not an error: the report's status is ``insufficient_data``
    and its message says why (a fresh deployment has no traffic yet).

    Raises:
        InputError: the log exists but cannot be read (permissions, a directory...).
    """
    try:
        tail = tail_records(log, last_n, parse_line, block_size=block_size)
    except LogReadError as err:
        raise InputError(str(err)) from None
    note = None
    if not tail.files:
        note = f"log {log} not found (has a service or the generate stage written it yet?)"
    elif not tail.records and not tail.skipped_lines:
        note = f"log {log} is empty"
    cols = columns(tail.records)
    report = drift_report(cols, stats, rules, last_n, skipped=tail.skipped, note=note)
    return CheckResult(report=report, plots=plot_rows(cols, stats))
