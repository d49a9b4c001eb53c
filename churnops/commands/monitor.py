"""``churnops monitor``: check the newest logged predictions for drift, print a table.

Exit codes: 0 (checked: ok, drift without ``--fail-on-drift``, or insufficient data),
1 (drift and ``--fail-on-drift``: for cron or CI), 2 (a bad argument or an unreadable file).
A missing log is not an error: a service that has not served yet has nothing to drift,
so the status is ``insufficient_data`` and the message says the log was not found.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from churnops.errors import DataError, ParamsError

DEFAULT_STATS = "data/prepared/train_stats.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags; values are checked in :func:`run` so a bad one gives a one-line message."""
    parser.add_argument("--log", help="prediction log (default: monitor.log); rotated X.1, X.2... are read too")
    parser.add_argument("--stats", default=DEFAULT_STATS, help=f"training statistics (default: {DEFAULT_STATS})")
    parser.add_argument("--last-n", help="records to check (default: monitor.last_n)")
    parser.add_argument(
        "--z-threshold", help="flag a numeric feature when |z| exceeds this (default: monitor.z_threshold)"
    )
    parser.add_argument("--out", help="also write the report as JSON here (atomically)")
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 1 when drift is found")
    parser.add_argument("--params", help="params file for the defaults (default: params.yaml if present)")


def _positive(raw: str | None, flag: str, kind: type) -> int | float | None:
    if raw is None:
        return None
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        what = "an integer >= 1" if kind is int else "a number > 0"
        raise ParamsError(f"{flag} must be {what} (got {raw!r})")
    return value


def _monitor_params(path: str | None):
    from churnops.params import MonitorParams, load_params

    if path is None:
        # Outside a project checkout there is no params.yaml: the built-in defaults apply.
        return load_params("params.yaml").monitor if Path("params.yaml").is_file() else MonitorParams()
    return load_params(path).monitor


def run(args: argparse.Namespace) -> int:
    """Run the check; see the module docstring for the exit codes."""
    from churnops.io import write_json
    from churnops.monitor.check import InputError, check
    from churnops.monitor.drift import Rules, load_stats, render_table

    last_n = _positive(args.last_n, "--last-n", int)
    z_threshold = _positive(args.z_threshold, "--z-threshold", float)
    p = _monitor_params(args.params)
    rules = Rules(
        z_threshold=float(z_threshold or p.z_threshold),
        psi_threshold=p.psi_threshold,
        chi2_alpha=p.chi2_alpha,
        min_samples=p.min_samples,
    )
    try:
        stats = load_stats(args.stats)
    except DataError as err:
        # Exit 2, not DataError's 1: to a cron job, 1 means "drift found".
        raise InputError(str(err)) from None
    result = check(args.log or p.log, stats, rules, int(last_n or p.last_n))
    if args.out:
        try:
            write_json(args.out, result.report)
        except OSError as err:
            raise ParamsError(f"--out {args.out}: cannot write: {err.strerror or err}") from None
    print(render_table(result.report))
    if result.report["status"] == "insufficient_data":
        print(f"churnops monitor: {result.report['message']}", file=sys.stderr)
    return 1 if args.fail_on_drift and result.report["status"] == "drift" else 0
