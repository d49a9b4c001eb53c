"""``churnops monitor``: check the newest logged predictions for drift, print a table.

Exit codes: 0 (checked: ok, drift without ``--fail-on-drift``, or insufficient data),
1 (drift and ``--fail-on-drift``: for cron or CI), 2 (a bad argument or an unreadable file).
A missing log is not an error: a service that has not served yet has nothing to drift,
so the status is ``insufficient_data`` and the table's status line says the log was not
found. stderr gets one line only with exit 1 (the causes of the drift).

The thresholds come from ``--params`` or ``params.yaml`` of the project at ``--repo``
(default ``.``); the default log (``monitor.log``) and ``--stats`` are relative to it too.
An explicit ``--repo`` must be a project (exit 2, naming ``--repo``). Outside a project, pass
``--params FILE``: the thresholds are a project's (``monitor.*``), and ``params.yaml`` is the
only place their values are written (exit 2 without one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from churnops.commands.common import add_repo_argument, field_type, project_root
from churnops.core import paths
from churnops.core.errors import DataError, InputError, ParamsError

if TYPE_CHECKING:
    from churnops.core.params import MonitorParams


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags; ``--last-n``/``--z-threshold`` are parsed with :class:`MonitorParams`' own bounds."""
    from churnops.core.params import MonitorParams

    parser.add_argument(
        "--log",
        action="append",
        help="prediction log, glob, or archive (a directory of shipped .jsonl.gz, or s3://bucket/prefix); "
        "repeat for replicas, merged into one window by time stamp (default: monitor.log); rotated X.1, "
        "X.2... are read too",
    )
    parser.add_argument("--stats", help=f"training statistics (default: {paths.TRAIN_STATS} under --repo)")
    parser.add_argument(
        "--last-n",
        type=field_type(MonitorParams, "last_n"),
        help="newest lines to check, valid or not (default: monitor.last_n)",
    )
    parser.add_argument(
        "--z-threshold",
        type=field_type(MonitorParams, "z_threshold"),
        help="flag a numeric feature when |z| exceeds this (default: monitor.z_threshold)",
    )
    parser.add_argument("--out", help="also write the full report as JSON here (atomically)")
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 1 when drift is found")
    parser.add_argument("--params", help="params file for the defaults (default: params.yaml under --repo, if present)")
    add_repo_argument(parser)


def _monitor_params(path: str | None, repo: Path) -> tuple[MonitorParams, str]:
    """The ``monitor`` params and the file they came from; ParamsError (exit 2) if there is none.

    A relative ``monitor.log`` from the project's ``params.yaml`` is relative to ``repo``;
    one from ``--params`` or ``--log`` is the user's, relative to cwd.
    """
    from churnops.core.params import load_params

    if path is not None:
        return load_params(path).monitor, path
    params = repo / paths.PARAMS
    if not params.is_file():
        raise ParamsError(
            f"no {paths.PARAMS} in {repo.resolve()}: pass --params FILE (the monitor.* thresholds) "
            "or run in the project (--repo DIR)"
        )
    p, source = load_params(params).monitor, str(params)
    if repo != Path("."):
        logs = [p.log] if isinstance(p.log, str) else p.log
        rebased = [str(repo / log) for log in logs]
        p = p.model_copy(update={"log": rebased[0] if isinstance(p.log, str) else rebased})
    return p, source


def _override(p: MonitorParams, args: argparse.Namespace) -> MonitorParams:
    """Apply the flags; their values were already parsed with the params model's own bounds."""
    from pydantic import ValidationError

    from churnops.core.params import MonitorParams

    updates: dict[str, object] = {key: getattr(args, key) for key in ("last_n", "z_threshold")}
    updates = {key: value for key, value in updates.items() if value is not None}
    if args.log:
        updates["log"] = list(args.log)
    try:
        return MonitorParams.model_validate({**p.model_dump(), **updates})
    except ValidationError as err:
        e = err.errors()[0]
        raise ParamsError(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']} (got {e['input']!r})") from None


def run(args: argparse.Namespace) -> int:
    """Run the check (exit codes: the module docstring)."""
    from churnops.core import trainstats
    from churnops.core.io import write_json
    from churnops.monitor.check import check
    from churnops.monitor.rules import Rules
    from churnops.monitor.table import render_table

    repo = project_root(args.repo) if args.repo != Path(".") else Path(".")
    p, source = _monitor_params(args.params, repo)
    p = _override(p, args)
    stats_path = args.stats or str(repo / paths.TRAIN_STATS)
    rules = Rules.from_params(p)
    try:
        stats = trainstats.load(stats_path)
    except DataError as err:
        # Exit 2, not DataError's 1: to a cron job, 1 means "drift found".
        raise InputError(str(err)) from None
    result = check(p.log, stats, rules, p.last_n)
    if args.out:
        try:
            write_json(args.out, result.report)
        except OSError as err:
            raise ParamsError(f"--out {args.out}: cannot write: {err.strerror or err}") from None
    sys.stdout.write(render_table(result.report))
    print(f"params: {source}; log: {', '.join([p.log] if isinstance(p.log, str) else p.log)}")
    # The table's first line gives the status and why; stderr only says why the exit is not 0.
    if args.fail_on_drift and result.report["status"] == "drift":
        print(f"churnops monitor: {result.report['message']}", file=sys.stderr)
        return 1
    return 0
