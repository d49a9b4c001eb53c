"""DVC stage `feedback`: delayed labels joined to the prediction log.

Writes the live performance (metrics/feedback.json headline, the rest in details) and the
labeled traffic as a dataset (data/feedback/labeled.parquet, ``holdout`` marking the rows
that decide the judge stage's verdict and are never trained on). Records without a model
decision (the simulated traffic generate writes) are scored with the champion that
``promote.champion`` pins (from the DVC cache or the default remote), or left unscored when
it is null.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churnops.core.io import write_parquet
from churnops.core.metrics import write as write_metrics
from churnops.core.params import load_params
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
from churnops.core.tracking import versioned
from churnops.pipeline import feedback as fb
from churnops.versioning import champion as pinned


def main(args: argparse.Namespace) -> None:
    p = load_params(args.params)
    f = p.feedback
    md5 = p.promote.champion
    # DVC runs a stage in its project's root: that project's cache and remote hold the champion.
    champion = None if md5 is None else pinned.load(Path.cwd(), md5)
    labels = fb.read_labels(f.labels)
    frame, unmatched = fb.join(labels.labels, fb.read_log([f.log]), champion, md5)
    rep = fb.report(frame, unmatched, labels.skipped, f.min_f1, f.min_labels)
    dataset = fb.labeled_dataset(frame, f.window, f.holdout_fraction)
    rep["n_dataset"] = len(dataset)
    rep["n_holdout"] = int(dataset[fb.HOLDOUT].sum())
    write_parquet(args.data, dataset)
    write_metrics("feedback", rep, args.metrics, args.details)
    print(fb.table(rep), file=sys.stderr)
    loose = [f"{key} {path}" for key, path in (("feedback.log", f.log), ("feedback.labels", f.labels))
             if versioned(path) is False]  # fmt: skip
    if loose:
        print(f"feedback: warning: {' and '.join(loose)}: tracked by neither Git nor DVC, so a clone of this "
              "commit cannot rebuild it; version them with `churnops feedback snapshot`", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {
            "--data": "labeled traffic (parquet)",
            "--metrics": "headline live performance (JSON, a DVC metric)",
            "--details": "the full feedback report (JSON)",
        },
        params=PARAMS_HELP + "; feedback.log and feedback.labels name the inputs",
    )
    run_stage("feedback", main, parser)
