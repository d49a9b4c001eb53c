"""DVC stage `train`: fit the pipeline, apply the quality gate, export the model.

Whether the model is better than the one in production is the `judge` stage's question.
"""

from __future__ import annotations

import argparse
import sys

from churnops.core.io import atomic_open, read_parquet
from churnops.core.metrics import write as write_metrics
from churnops.core.params import load_params
from churnops.core.schema import FEATURE_NAMES, LABEL
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
from churnops.pipeline.export import export_model
from churnops.pipeline.scorer import model_bytes
from churnops.pipeline.train import check_gate, train


def main(args: argparse.Namespace) -> None:
    p = load_params(args.params).train
    result = train(read_parquet(args.train, columns=[*FEATURE_NAMES, LABEL]), p)
    # The verdict is written either way, so a failed run can be inspected; the model
    # only when the gate passes, so a rejected model never reaches dvc.lock.
    write_metrics("train", result.verdict(), args.metrics, args.details)
    check_gate(result)
    data = model_bytes(export_model(result.pipeline, p.threshold))
    with atomic_open(args.model, "wb") as fh:
        fh.write(data)
    print(result.gate_message(), file=sys.stderr)


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {
            "--train": "prepared training data (parquet)",
            "--model": "where to write the model (JSON)",
            "--metrics": "where to write the gate verdict (JSON, a DVC metric)",
            "--details": "the other figures: training and validation rows (JSON)",
        },
        params=PARAMS_HELP,
    )
    run_stage("train", main, parser)
