"""DVC stage `prepare`: validate, quarantine, split, and describe the training set."""

from __future__ import annotations

import argparse

from churnops.core.io import read_parquet, write_parquet
from churnops.core.metrics import write as write_metrics
from churnops.core.params import load_params
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
from churnops.core.trainstats import write as write_stats
from churnops.pipeline.labeljoin import HOLDOUT
from churnops.pipeline.prepare import check_rejected_fraction, report, split, training_stats, validate


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    p = params.prepare
    v = validate(read_parquet(args.raw), source=args.raw)
    check_rejected_fraction(v, p.max_rejected_fraction, source=args.raw)
    train, test = split(v.clean, p.test_fraction, p.seed)
    if params.feedback.include:
        # Labeled served traffic joins the training rows only (the test set stays generated);
        # its hold-out rows are the judge stage's and are never trained on.
        import pandas as pd

        fb = read_parquet(args.feedback)
        fv = validate(fb[~fb[HOLDOUT]], source=args.feedback)
        check_rejected_fraction(fv, p.max_rejected_fraction, source=args.feedback)
        extra = fv.clean[train.columns]
        train = pd.concat([train, *[extra] * params.feedback.weight], ignore_index=True)
    stats = training_stats(train)
    # Everything is computed before anything is written: a failure leaves no output.
    write_parquet(args.train, train)
    write_parquet(args.test, test)
    write_parquet(args.quarantine, v.quarantine)
    write_stats(args.stats, stats)
    write_metrics("prepare", report(v, len(train), len(test)), args.metrics, args.details)


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {
            "--raw": "raw customers (parquet)",
            "--feedback": "labeled traffic (parquet; read when feedback.include)",
            "--train": "training rows (parquet)",
            "--test": "test rows (parquet)",
            "--quarantine": "rejected rows with their reason (parquet)",
            "--stats": "training statistics for the monitor (JSON)",
            "--metrics": "headline figures (a DVC metric)",
            "--details": "other figures: rejected rows per reason... (JSON)",
        },
        params=PARAMS_HELP,
    )
    run_stage("prepare", main, parser)
