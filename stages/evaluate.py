"""DVC stage `evaluate`: test-set metrics and ROC / precision-recall / confusion plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from churnops.core.io import read_parquet, write_json
from churnops.core.metrics import write as write_metrics
from churnops.core.schema import FEATURE_NAMES, LABEL
from churnops.core.stage import run_stage, stage_parser
from churnops.pipeline.evaluate import evaluate
from churnops.pipeline.scorer import Scorer


def main(args: argparse.Namespace) -> None:
    scorer = Scorer.from_file(args.model)
    test = read_parquet(args.test, columns=[*FEATURE_NAMES, LABEL])
    metrics, plots = evaluate(test[LABEL].to_numpy(), scorer.predict_proba_frame(test), scorer.threshold)
    plots_dir = Path(args.plots)
    for name, rows in plots.items():
        write_json(plots_dir / f"{name}.json", rows)
    write_metrics("evaluate", metrics, args.metrics, args.details)


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {
            "--model": "the model (JSON)",
            "--test": "the test set (parquet)",
            "--metrics": "headline figures (a DVC metric)",
            "--details": "accuracy, threshold, n_test (plain JSON)",
            "--plots": "directory for roc.json, prc.json, confusion.json",
        },
    )
    run_stage("evaluate", main, parser)
