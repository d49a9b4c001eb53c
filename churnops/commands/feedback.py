"""``churnops feedback``: join delayed churn labels to the prediction log; live F1 per model.

Exit codes: 0 (a report: ok, degraded without ``--fail-on-degraded``, or insufficient
labels), 1 (degraded, i.e. live F1 below ``feedback.min_f1`` as in the ``feedback`` stage, and
``--fail-on-degraded``), 2 (a bad argument, or a labels file or
log that is missing or cannot be read: each ``--log`` must name a file, itself or its rotated
``X.1``, ``X.2``..., or an archive holding some, :mod:`churnops.core.logsource`). Bad label rows
are not errors: they are skipped and counted.

Log records with no model decision (generated traffic) are scored with ``--model``.

``churnops feedback snapshot --log LOG --labels FILE``: version the labeled part of the log
and the labels with DVC (:mod:`churnops.versioning.snapshot`), for the ``feedback`` stage to
read: 0 (written and ``dvc add``-ed), 1 (``dvc add`` failed; the old snapshot is kept), 2 (a
bad argument or input). Its options follow the word ``snapshot``; the report's come before
no action word, so ``--out`` can mean a directory there and a JSON file here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnops.commands.common import FAILURE, OK, add_repo_argument, field_type, project_root
from churnops.core import paths

if TYPE_CHECKING:
    from churnops.core.params import FeedbackParams

SNAPSHOT_HELP = "Version the labeled part of the prediction log and its labels with DVC (for the feedback stage)"
SNAPSHOT_DESCRIPTION = (
    f"{SNAPSHOT_HELP}: keeps the log lines whose customer_id has a label (rotated files oldest first), "
    "copies the labels as they are, and `dvc add`s the directory. Prints the params to set and the "
    "`git add` to run; params.yaml is not edited."
)

REPORT_FLAGS = {"log": "--log", "labels": "--labels", "out": "--out", "min_labels": "--min-labels",
                "fail_on_degraded": "--fail-on-degraded", "model": "--model", "params": "--params"}  # fmt: skip
"""The report's options by ``dest``: given before ``snapshot``, they would be silently unused."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from churnops.core.params import FeedbackParams

    parser.add_argument("--log", action="append", help="prediction log, glob, or archive (a directory of "
                        "shipped .jsonl.gz, or s3://bucket/prefix); repeat for replicas (rotated X.1, X.2... "
                        "are read too, and an archived copy of a local file is read once)")  # fmt: skip
    parser.add_argument("--labels", help="labels: CSV or JSON lines with customer_id, churn "
                        "(0/1) and optionally observed_at")  # fmt: skip
    parser.add_argument("--out", help="also write the full report as JSON here (atomically)")
    parser.add_argument("--min-labels", type=field_type(FeedbackParams, "min_labels"),
                        help="fewer joined labels -> insufficient_labels (default: feedback.min_labels)")  # fmt: skip
    parser.add_argument("--fail-on-degraded", action="store_true",
                        help="exit 1 when live F1 < feedback.min_f1 (degraded, as in the feedback stage)")  # fmt: skip
    parser.add_argument("--model", help="model file that scores log records carrying no decision "
                        "(generated traffic); default: none")  # fmt: skip
    parser.add_argument("--params", help="params file for the defaults (default: params.yaml if present)")
    actions = parser.add_subparsers(
        dest="action",
        metavar="[snapshot]",
        title="action",
        description="without one, the live report; `churnops feedback snapshot --help` for its options",
    )
    snap = actions.add_parser("snapshot", help=SNAPSHOT_HELP, description=SNAPSHOT_DESCRIPTION)
    # Own dests: the report's --log or --out given before the word would otherwise be overwritten unseen.
    snap.add_argument(
        "--log",
        dest="snapshot_log",
        action="append",
        metavar="LOG",
        help="prediction log; repeat for replicas, in order (rotated X.1, X.2... are read too)",
    )
    snap.add_argument(
        "--labels",
        dest="snapshot_labels",
        metavar="FILE",
        help="labels: CSV or JSON lines with customer_id, churn and optionally observed_at",
    )
    snap.add_argument(
        "--out",
        dest="snapshot_out",
        type=Path,
        metavar="DIR",
        help=f"the snapshot directory, replaced if it is one (default: {paths.FEEDBACK_SNAPSHOT} in the project)",
    )
    add_repo_argument(snap)


def _params(path: str | None) -> FeedbackParams:
    from churnops.core.params import load_params

    if path is None and Path("params.yaml").is_file():
        path = "params.yaml"
    if path is None:
        from churnops.core.errors import ParamsError

        # Params values live only in a params.yaml: a silent built-in default would be a second source.
        raise ParamsError("no params.yaml in the current directory: pass --params FILE")
    return load_params(path).feedback


def _check_logs(logs: list[str]) -> None:
    """InputError (exit 2) for a ``--log`` with no file, rotated ones included: joined to nothing, every
    label would look unmatched. A pattern the shell matched to nothing is named as given."""
    from churnops.core.errors import InputError
    from churnops.core.logsource import resolve

    for log in logs:
        if not any(source.segments for source in resolve([log])):
            raise InputError(f"--log {log}: no such log (nor rotated {Path(log).name}.1, .2, ...)")


def run(args: argparse.Namespace) -> int:
    if args.action == "snapshot":
        return snapshot(args)
    return report(args)


def report(args: argparse.Namespace) -> int:
    """``churnops feedback``: the live report."""
    from churnops.core.errors import InputError
    from churnops.core.io import write_json
    from churnops.pipeline import labeljoin as fb

    if not args.log or not args.labels:
        from churnops.core.errors import ParamsError

        raise ParamsError("--log and --labels are required (see `churnops feedback --help`)")
    fp = _params(args.params)
    _check_logs(args.log)
    labels = fb.read_labels(args.labels)
    scorer = version = None
    if args.model:
        from churnops.pipeline.scorer import Scorer, md5_bytes

        data = Path(args.model).read_bytes() if Path(args.model).is_file() else None
        if data is None:
            raise InputError(f"--model {args.model}: no such file")
        scorer, version = Scorer.from_bytes(data, source=args.model), md5_bytes(data)
    rows, unmatched = fb.decisions(labels.labels, fb.log_source(args.log), scorer, version)
    min_labels = args.min_labels if args.min_labels is not None else fp.min_labels
    rep = fb.report(rows, unmatched, labels.skipped, fp.min_f1, min_labels)
    if args.out:
        write_json(args.out, rep)
    sys.stdout.write(_render(rep))
    if rep["status"] == fb.STATUS_DEGRADED and args.fail_on_degraded:
        why = f"live f1 {rep['f1']:.3f} < feedback.min_f1 {fp.min_f1:.3f}"
        print(f"churnops feedback: degraded: {why}", file=sys.stderr)
        return FAILURE
    return OK


def _render(rep: dict[str, Any]) -> str:
    """The report for a person: a rich table (plain text off a terminal: :mod:`churnops.core.terminal`), its status."""
    from rich import box
    from rich.table import Table

    from churnops.core.logformat import MODEL_VERSION
    from churnops.core.terminal import render
    from churnops.pipeline import labeljoin as fb

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column(MODEL_VERSION)
    for name in fb.COLUMNS:
        table.add_column(name, justify="right")
    for row in fb.table_rows(rep):
        table.add_row(*row)
    return render(table, fb.status_line(rep))


def snapshot(args: argparse.Namespace) -> int:
    """``churnops feedback snapshot``: write and ``dvc add`` the snapshot, then say what to do with it."""
    from churnops.core.errors import GitError, ParamsError
    from churnops.versioning import git
    from churnops.versioning.snapshot import take

    early = [flag for dest, flag in REPORT_FLAGS.items() if getattr(args, dest, None) not in (None, False)]
    if early:
        raise ParamsError(f"{early[0]} before `snapshot`: its options follow the word (see `churnops feedback "
                          "snapshot --help`)")  # fmt: skip
    if not args.snapshot_log or not args.snapshot_labels:
        raise ParamsError("--log and --labels are required (see `churnops feedback snapshot --help`)")
    root = project_root(args.repo)
    if not (root / ".dvc").is_dir():
        raise ParamsError(f"--repo {args.repo}: no DVC project at {root} (no .dvc directory; `dvc init` makes one)")
    try:
        git.repo_root(root)
    except GitError:
        raise ParamsError(f"--repo {args.repo}: {root} is not in a Git work tree (the snapshot's .dvc file is "
                          "committed with Git)") from None  # fmt: skip
    out = args.snapshot_out if args.snapshot_out is not None else root / paths.FEEDBACK_SNAPSHOT
    snap = take(root, args.snapshot_log, args.snapshot_labels, out)
    skipped = "".join(f", {k}: {v}" for k, v in sorted(snap.skipped.items()))
    print(f"wrote {snap.predictions}: {snap.n_kept} of {snap.n_read} log lines ({snap.n_files} file(s)), "
          f"the predictions of {snap.n_customers} of {snap.n_labels} labeled customers")  # fmt: skip
    print(f"wrote {snap.labels}: {snap.n_labels} labels, copied as is ({sum(snap.skipped.values())} row(s) "
          f"skipped{skipped})")  # fmt: skip
    print(f"dvc add {snap.directory}: wrote {snap.dvc_file}")
    print("set in params.yaml, under feedback:")
    print(f"  log: {snap.predictions}")
    print(f"  labels: {snap.labels}")
    print(f"git add {snap.dvc_file} {snap.gitignore}")
    print("then dvc repro, commit with params.yaml and dvc.lock, and dvc push (a clone pulls the snapshot)")
    return OK
