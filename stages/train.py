"""DVC stage `train`: fit the pipeline, apply the quality gate, export the model."""

from __future__ import annotations

import argparse
import sys

from churnops.core.io import atomic_open, read_parquet
from churnops.core.metrics import write as write_metrics
from churnops.core.params import load_params
from churnops.core.schema import FEATURE_NAMES, LABEL
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
from churnops.pipeline.export import export_model
from churnops.pipeline.feedback import HOLDOUT
from churnops.pipeline.prepare import validate
from churnops.pipeline.promote import check_promotion, judge, load_champion
from churnops.pipeline.scorer import Scorer, md5_bytes, model_bytes
from churnops.pipeline.train import check_gate, train


def main(args: argparse.Namespace) -> None:
    p = load_params(args.params).train
    result = train(read_parquet(args.train, columns=[*FEATURE_NAMES, LABEL]), p)
    # The verdict is written either way, so a failed run can be inspected; the model
    # only when the gate passes, so a rejected model never reaches dvc.lock.
    write_metrics("train", result.verdict(), args.metrics, args.details)
    check_gate(result)
    data = model_bytes(export_model(result.pipeline, p.threshold))
    # Champion and challenger (churnops/promote.py): judged before the model is written,
    # so a refused challenger, like a gated one, never reaches dvc.lock.
    champion, champion_md5 = load_champion(args.champion)
    holdout = read_parquet(args.feedback)
    holdout = validate(holdout[holdout[HOLDOUT]], source=args.feedback).clean
    verdict = judge(
        Scorer.from_bytes(data),
        champion,
        holdout,
        read_parquet(args.test, columns=[*FEATURE_NAMES, LABEL]),
        p.promote_margin,
        (md5_bytes(data), champion_md5),
    )
    write_metrics("promotion", verdict.metrics(), args.promotion, args.promotion_details)
    print(result.gate_message(), file=sys.stderr)
    check_promotion(verdict)
    with atomic_open(args.model, "wb") as fh:
        fh.write(data)
    print(verdict.message(), file=sys.stderr)


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {
            "--train": "prepared training data (parquet)",
            "--model": "where to write the model (JSON)",
            "--metrics": "where to write the gate verdict (JSON, a DVC metric)",
            "--details": "the other figures: training and validation rows (JSON)",
            # Read only once the gate has passed.
            "--champion": "the champion model (Git-tracked)",
            "--feedback": "labeled traffic (hold-out)",
            "--test": "the fixed test set, side by side",
            "--promotion": "the verdict (JSON, a DVC metric)",
            "--promotion-details": "its figures (JSON)",
        },
        params=PARAMS_HELP,
    )
    run_stage("train", main, parser)
