"""DVC stage `evaluate`: test-set metrics and ROC / precision-recall / confusion plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from churnops.core.io import read_parquet, write_json
from churnops.core.metrics import split as split_metrics
from churnops.core.schema import FEATURE_NAMES, LABEL
from churnops.core.stage import run_stage
from churnops.pipeline.evaluate import evaluate
from churnops.pipeline.scorer import Scorer


def main(args: argparse.Namespace) -> None:
    scorer = Scorer.from_file(args.model)
    test = read_parquet(args.test, columns=[*FEATURE_NAMES, LABEL])
    metrics, plots = evaluate(test[LABEL].to_numpy(), scorer.predict_proba_frame(test), scorer.threshold)
    plots_dir = Path(args.plots)
    for name, rows in plots.items():
        write_json(plots_dir / f"{name}.json", rows)
    headline, details = split_metrics("evaluate", metrics)
    write_json(args.details, details)
    write_json(args.metrics, headline)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--metrics", required=True, help="headline figures (a DVC metric)")
    parser.add_argument("--details", required=True, help="accuracy, threshold, n_test (plain JSON)")
    parser.add_argument("--plots", required=True, help="directory for roc.json, prc.json, confusion.json")
    run_stage("evaluate", main, parser)
