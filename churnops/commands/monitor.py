"""``churnops monitor``: check the newest logged predictions for drift, print a table.

Exit codes: 0 (checked: ok, drift without ``--fail-on-drift``, or insufficient data),
1 (drift and ``--fail-on-drift``: for cron or CI), 2 (a bad argument or an unreadable file).
A missing log is not an error: a service that has not served yet has nothing to drift,
so the status is ``insufficient_data`` and the message says the log was not found.

The thresholds come from ``--params`` or ``./params.yaml``; without either, the built-in
defaults apply and the command says so on stderr (it never picks them silently).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churnops.core.errors import DataError, ParamsError

DEFAULT_STATS = "data/prepared/train_stats.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags; values are checked in :func:`run` so a bad one gives a one-line message."""
    parser.add_argument(
        "--log",
        action="append",
        help="prediction log or glob; repeat for replicas, merged into one window by time stamp "
        "(default: monitor.log); rotated X.1, X.2... are read too",
    )
    parser.add_argument("--stats", default=DEFAULT_STATS, help=f"training statistics (default: {DEFAULT_STATS})")
    parser.add_argument("--last-n", help="newest lines to check, valid or not (default: monitor.last_n)")
    parser.add_argument(
        "--z-threshold", help="flag a numeric feature when |z| exceeds this (default: monitor.z_threshold)"
    )
    parser.add_argument("--out", help="also write the full report as JSON here (atomically)")
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 1 when drift is found")
    parser.add_argument("--params", help="params file for the defaults (default: params.yaml if present)")


def _monitor_params(path: str | None):
    """The ``monitor`` params and where they came from (a file, or the built-in defaults)."""
    from churnops.core.params import MonitorParams, load_params

    if path is not None:
        return load_params(path).monitor, path
    if Path("params.yaml").is_file():
        return load_params("params.yaml").monitor, "params.yaml"
    return MonitorParams(), None


_FLAGS = {"last_n": "--last-n", "z_threshold": "--z-threshold"}


def _override(p, args: argparse.Namespace):
    """Apply the flags with the params model's own types and bounds (``--last-n`` <= 10,000,000)."""
    from pydantic import ValidationError

    from churnops.core.params import MonitorParams

    updates: dict[str, object] = {}
    for key, flag in _FLAGS.items():
        raw = getattr(args, key)
        if raw is None:
            continue
        try:
            updates[key] = int(raw) if key == "last_n" else float(raw)
        except ValueError:
            what = "an integer" if key == "last_n" else "a number"
            raise ParamsError(f"{flag} must be {what} (got {raw!r})") from None
    if args.log:
        updates["log"] = list(args.log)
    try:
        return MonitorParams.model_validate({**p.model_dump(), **updates})
    except ValidationError as err:
        e = err.errors()[0]
        key = str(e["loc"][0])
        raise ParamsError(f"{_FLAGS.get(key, '--' + key)} {e['msg'].lower()} (got {e['input']!r})") from None


def run(args: argparse.Namespace) -> int:
    """Run the check; see the module docstring for the exit codes."""
    from churnops.core.io import write_json
    from churnops.monitor.check import InputError, check
    from churnops.monitor.drift import Rules, load_stats, render_table

    p, source = _monitor_params(args.params)
    p = _override(p, args)
    rules = Rules(
        z_threshold=p.z_threshold,
        chi2_alpha=p.chi2_alpha,
        min_samples=p.min_samples,
        max_invalid_fraction=p.max_invalid_fraction,
    )
    try:
        stats = load_stats(args.stats)
    except DataError as err:
        # Exit 2, not DataError's 1: to a cron job, 1 means "drift found".
        raise InputError(str(err)) from None
    result = check(p.log, stats, rules, p.last_n)
    if args.out:
        try:
            write_json(args.out, result.report)
        except OSError as err:
            raise ParamsError(f"--out {args.out}: cannot write: {err.strerror or err}") from None
    if source is None:
        print(
            f"churnops monitor: no params.yaml in {Path.cwd()}: using the built-in defaults "
            f"(last_n={p.last_n}, z_threshold={p.z_threshold:g}, chi2_alpha={p.chi2_alpha:g}, "
            f"min_samples={p.min_samples}, max_invalid_fraction={p.max_invalid_fraction:g}); "
            "pass --params FILE to use a project's",
            file=sys.stderr,
        )
    print(render_table(result.report))
    print(f"params: {source or 'built-in defaults'}; log: {', '.join([p.log] if isinstance(p.log, str) else p.log)}")
    if result.report["status"] == "insufficient_data" or (result.report["status"] == "drift" and args.fail_on_drift):
        print(f"churnops monitor: {result.report['message']}", file=sys.stderr)
    return 1 if args.fail_on_drift and result.report["status"] == "drift" else 0
