"""DVC stage `judge`: is the candidate better than the champion beyond noise?

The candidate is the model ``train`` just built; the champion is the model ``promote.champion``
pins by md5 (read from the DVC cache or the default remote). The verdict (promote, keep,
first, same) goes to the metrics; deploying is ``churnops promote``'s business, so
this stage never fails because the candidate lost (churnops/pipeline/judge.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churnops.core.io import read_parquet
from churnops.core.metrics import write as write_metrics
from churnops.core.params import load_params
from churnops.core.schema import FEATURE_NAMES, LABEL
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
from churnops.pipeline.judge import judge
from churnops.pipeline.labeljoin import HOLDOUT
from churnops.pipeline.prepare import validate
from churnops.pipeline.scorer import Scorer, md5_bytes
from churnops.versioning import champion as pinned


def main(args: argparse.Namespace) -> None:
    p = load_params(args.params).promote
    candidate = Scorer.from_file(args.model)
    candidate_md5 = md5_bytes(Path(args.model).read_bytes())
    # DVC runs a stage in its project's root: that project's cache and remote hold the champion.
    # The candidate itself is never fetched: when it is the champion, it is the file at hand.
    champion = None if p.champion in (None, candidate_md5) else pinned.load(Path.cwd(), p.champion)
    holdout = read_parquet(args.feedback)
    holdout = validate(holdout[holdout[HOLDOUT]], source=args.feedback).clean
    test = read_parquet(args.test, columns=[*FEATURE_NAMES, LABEL])
    verdict = judge(candidate, champion, holdout, test, p, candidate_md5)
    write_metrics("judge", verdict.figures(), args.metrics, args.details)
    print(f"judge: {verdict.message()}", file=sys.stderr)


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {
            "--model": "the candidate model (JSON)",
            "--feedback": "labeled traffic; its hold-out rows decide when there are enough",
            "--test": "the fixed test set (decides otherwise; reported either way)",
            "--metrics": "the verdict (JSON, a DVC metric)",
            "--details": "the evidence: md5s, basis, F1s on both sets, gain, bound (JSON)",
        },
        params=PARAMS_HELP,
    )
    run_stage("judge", main, parser)
