"""``churnops report``: the operator's view over time, on one offline page.

Per chunk of the log (``--chunk 1h``, ``1d``, ``30m`` or a line count) and per model version
served in it: lines and invalid share with the monitor's reasons, each feature's drift verdict
by the monitor's own rules and thresholds (``monitor.*`` of params.yaml), mean churn
probability and churn rate, estimated F1 (CBPE) with its interval, and realized F1 where
``--labels`` joined (the ``churnops feedback`` join). Prod's periods come from the registry.

Exit codes: 0 (a report), 1 (a ``--fail-on`` condition holds in some chunk; stderr names it),
2 (a bad argument, a log that does not exist, an unreadable file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churnops.commands.common import FAILURE, OK, add_repo_argument, project_root
from churnops.core import paths
from churnops.core.errors import DataError, InputError, ParamsError


def _chunking(text: str) -> object:
    from churnops.report.chunks import Chunking

    try:
        return Chunking.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log",
        action="append",
        required=True,
        help="prediction log or glob; repeat for replicas (rotated X.1, X.2... are read too)",
    )
    parser.add_argument(
        "--labels",
        help="churn labels (CSV or JSON lines: customer_id, churn, optional observed_at): realized F1 per chunk",
    )
    parser.add_argument("-o", "--out", default="report.html", help="the HTML page (default: %(default)s)")
    parser.add_argument("--json", help="also write the report as JSON here")
    parser.add_argument("--chunk", type=_chunking, default="1d", help="30m, 1h, 1d... or a line count (default: 1d)")
    parser.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="CONDITION",
        help="exit 1 when a chunk meets it, e.g. 'estimated_f1<0.7', 'drifted>0', 'invalid_fraction>0.05' (repeatable)",
    )
    parser.add_argument("--stats", help=f"training statistics (default: {paths.TRAIN_STATS} under --repo)")
    parser.add_argument("--params", help="params file for the monitor's thresholds (default: params.yaml under --repo)")
    add_repo_argument(parser)


def run(args: argparse.Namespace) -> int:
    from churnops import plotpage
    from churnops.core import trainstats
    from churnops.core.io import atomic_open, write_json
    from churnops.core.params import load_params
    from churnops.monitor.rules import Rules
    from churnops.report import estimate, overtime, page
    from churnops.report.chunks import Chunking
    from churnops.report.scan import scan, segments

    conditions = [overtime.Condition.parse(c) for c in args.fail_on]
    root = project_root(args.repo)
    params_path = Path(args.params) if args.params else root / paths.PARAMS
    if not params_path.is_file():
        raise ParamsError(f"no params file {params_path}: pass --params FILE (the monitor.* thresholds)")
    rules = Rules.from_params(load_params(params_path).monitor)
    try:
        stats = trainstats.load(args.stats or root / paths.TRAIN_STATS)
    except DataError as err:
        raise InputError(str(err)) from None
    files = segments(args.log)
    if not files:
        raise InputError(f"--log {', '.join(args.log)}: no such log (nor rotated .1, .2, ...)")
    libraries = plotpage.libraries(root)  # before the long read: a missing asset fails fast
    chunking = args.chunk if isinstance(args.chunk, Chunking) else Chunking.parse(args.chunk)
    scanner = scan(files, stats, chunking)
    notes: list[str] = []
    joined = None
    if args.labels:
        from churnops.pipeline import labeljoin

        labels = labeljoin.read_labels(args.labels)
        joined, unmatched = labeljoin.join(labels.labels, labeljoin.log_source(args.log))
        notes.append(
            f"labels: {len(labels.labels)} read, {len(joined)} joined, {unmatched.total} unmatched, "
            f"{sum(labels.skipped.values())} skipped"
        )
    bands, why = overtime.bands(root)
    if why:
        notes.append(why)
    report = overtime.build(scanner, stats, rules, joined, estimate.measure(root), bands, notes)
    try:
        with atomic_open(args.out, "w") as fh:
            fh.write(page.render(report, libraries))
        if args.json:
            write_json(args.json, report)
    except OSError as err:
        raise ParamsError(f"cannot write the report: {err.strerror or err} ({err.filename})") from None
    failed = overtime.failures(report, conditions)
    for warning in overtime.unchecked(report, conditions):
        print(f"churnops report: warning: {warning}", file=sys.stderr)
    print(
        f"wrote {args.out}: {report['lines']} lines in {len(report['chunks'])} chunk(s) of {report['chunking']}"
        + (f"; {args.json}" if args.json else "")
    )
    if failed:
        print(f"churnops report: {'; '.join(failed)}", file=sys.stderr)
        return FAILURE
    return OK
