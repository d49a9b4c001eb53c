"""DVC stage `labels`: delayed churn labels joined to the prediction log, as a dataset.

Writes the labeled traffic (``--data``): the newest ``feedback.window``
joined rows, each marked ``holdout`` (rows that decide the judge stage's verdict and are never
trained on) or not (rows ``prepare`` may add to the training data). Needs no model, so it runs
before ``prepare``; the live performance of the models is the ``feedback`` stage's, after ``train``.
"""

from __future__ import annotations

import argparse
import sys

from churnops.core.io import write_json, write_parquet
from churnops.core.params import load_params
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
from churnops.core.tracking import versioned
from churnops.pipeline import labeljoin as fb


def main(args: argparse.Namespace) -> None:
    f = load_params(args.params).feedback
    labels = fb.read_labels(f.labels)
    frame, unmatched = fb.join(labels.labels, fb.log_source([f.log]))
    dataset = fb.labeled_dataset(frame, f.window, f.holdout_fraction)
    write_parquet(args.data, dataset)
    write_json(args.details, {"n_joined": len(frame), "n_unmatched": unmatched.total, "n_dataset": len(dataset),
                              "n_holdout": int(dataset[fb.HOLDOUT].sum()),
                              "skipped": dict(sorted(labels.skipped.items()))})  # fmt: skip
    loose = [f"{key} {path}" for key, path in (("feedback.log", f.log), ("feedback.labels", f.labels))
             if versioned(path) is False]  # fmt: skip
    if loose:
        print(f"labels: warning: {' and '.join(loose)}: tracked by neither Git nor DVC, so a clone of this "
              "commit cannot rebuild it; version them with `churnops feedback snapshot`", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {"--data": "labeled traffic (parquet)", "--details": "row counts of the join and the dataset (JSON)"},
        params=PARAMS_HELP + "; feedback.log and feedback.labels name the inputs",
    )
    run_stage("labels", main, parser)
