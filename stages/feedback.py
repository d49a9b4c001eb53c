"""DVC stage `feedback`: the live performance of the models, from delayed labels.

Joins the labels to the prediction log and reports F1 and friends per served model version
(the headline in ``--metrics``, the rest in ``--details``), from the decisions the log records.
Records without a logged decision (the simulated traffic ``generate`` writes) are scored with
the model this pipeline just built (``train``'s), so a fresh clone measures its own candidate
on the traffic. The labeled dataset itself is the ``labels`` stage's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churnops.core.metrics import write as write_metrics
from churnops.core.params import load_params
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
from churnops.pipeline import labeljoin as fb
from churnops.pipeline.scorer import Scorer, md5_bytes


def main(args: argparse.Namespace) -> None:
    f = load_params(args.params).feedback
    data = Path(args.model).read_bytes()
    model = Scorer.from_bytes(data, source=args.model)
    labels = fb.read_labels(f.labels)
    frame, unmatched = fb.join(labels.labels, fb.log_source([f.log]), model, md5_bytes(data))
    rep = fb.report(frame, unmatched, labels.skipped, f.min_f1, f.min_labels)
    write_metrics("feedback", rep, args.metrics, args.details)
    print(fb.table(rep), file=sys.stderr)


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {
            "--model": "the model this pipeline built: scores records without a logged decision",
            "--metrics": "headline live performance (JSON, a DVC metric)",
            "--details": "the full feedback report (JSON)",
        },
        params=PARAMS_HELP + "; feedback.log and feedback.labels name the inputs",
    )
    run_stage("feedback", main, parser)
