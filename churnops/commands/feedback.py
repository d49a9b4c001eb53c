"""``churnops feedback``: join delayed churn labels to the prediction log; live F1 per model.

Exit codes: 0 (a report: ok, degraded without ``--fail-on-degraded``, or insufficient
labels), 1 (degraded and ``--fail-on-degraded``), 2 (a bad argument, or a labels file or
log that cannot be read). Bad label rows are not errors: they are skipped and counted.

Log records with no model decision (generated traffic) are scored with ``--model``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from churnops.commands.common import FAILURE, OK, field_type

if TYPE_CHECKING:
    from churnops.core.params import FeedbackParams, TrainParams


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from churnops.core.params import FeedbackParams

    parser.add_argument("--log", action="append", help="prediction log; repeat for replicas "
                        "(rotated X.1, X.2... are read too)")  # fmt: skip
    parser.add_argument("--labels", help="labels: CSV or JSON lines with customer_id, churn "
                        "(0/1) and optionally observed_at")  # fmt: skip
    parser.add_argument("--out", help="also write the full report as JSON here (atomically)")
    parser.add_argument("--min-labels", type=field_type(FeedbackParams, "min_labels"),
                        help="fewer joined labels -> insufficient_labels (default: feedback.min_labels)")  # fmt: skip
    parser.add_argument("--fail-on-degraded", action="store_true", help="exit 1 when live F1 < train.gate_f1")
    parser.add_argument("--model", help="model file that scores log records carrying no decision "
                        "(generated traffic); default: none")  # fmt: skip
    parser.add_argument("--params", help="params file for the defaults (default: params.yaml if present)")


def _params(path: str | None) -> tuple[FeedbackParams, TrainParams]:
    from churnops.core.params import load_params

    if path is None and Path("params.yaml").is_file():
        path = "params.yaml"
    if path is None:
        from churnops.core.errors import ParamsError

        # Params values live only in a params.yaml (issue 12): no silent built-in defaults.
        raise ParamsError("no params.yaml in the current directory: pass --params FILE")
    p = load_params(path)
    return p.feedback, p.train


def run(args: argparse.Namespace) -> int:
    from churnops.core.errors import InputError
    from churnops.core.io import write_json
    from churnops.pipeline import feedback as fb

    if not args.log or not args.labels:
        from churnops.core.errors import ParamsError

        raise ParamsError("--log and --labels are required (see `churnops feedback --help`)")
    fp, tp = _params(args.params)
    labels = fb.read_labels(args.labels)
    scorer = version = None
    if args.model:
        from churnops.pipeline.scorer import Scorer, md5_bytes

        data = Path(args.model).read_bytes() if Path(args.model).is_file() else None
        if data is None:
            raise InputError(f"--model {args.model}: no such file")
        scorer, version = Scorer.from_bytes(data, source=args.model), md5_bytes(data)
    frame, unmatched = fb.join(labels.labels, fb.read_log(args.log), scorer, version)
    min_labels = args.min_labels if args.min_labels is not None else fp.min_labels
    rep = fb.report(frame, unmatched, labels.skipped, tp.gate_f1, min_labels)
    if args.out:
        write_json(args.out, rep)
    print(fb.table(rep))
    if rep["status"] == fb.STATUS_DEGRADED and args.fail_on_degraded:
        print("churnops feedback: degraded: live f1 below train.gate_f1", file=sys.stderr)
        return FAILURE
    return OK
