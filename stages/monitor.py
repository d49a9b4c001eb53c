"""DVC stage `monitor`: drift of the newest logged predictions against the training statistics.

A drift finding is reported (status ``drift`` in the ``--out`` metric), not a failure: the
stage exits 0 so the pipeline and ``dvc exp`` keep their results. Failing on drift is
``churnops monitor --fail-on-drift``'s job, for cron or CI.

``--out`` (the DVC metric) holds the headline scalars only, so ``dvc exp show`` stays
narrow; the breakdowns (per-reason and per-feature invalid shares, unseen
categories, every rule's statistics) go to ``--details``, a plain JSON file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churnops.core.io import write_json
from churnops.core.params import load_params
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser
from churnops.core.trainstats import load as load_stats
from churnops.monitor.check import check
from churnops.monitor.rules import Rules


def main(args: argparse.Namespace) -> None:
    p = load_params(args.params).monitor
    rules = Rules.from_params(p)
    stats = load_stats(args.stats)
    result = check(p.log, stats, rules, p.last_n)
    plots_dir = Path(args.plots)
    for name, rows in result.plots.items():
        write_json(plots_dir / f"{name}.json", rows)
    write_json(args.details, result.report)
    write_json(args.out, result.headline)
    print(f"monitor: {result.report['status']}: {result.report['message']}", file=sys.stderr)


if __name__ == "__main__":
    parser = stage_parser(
        __doc__.splitlines()[0],
        {
            "--stats": "training statistics written by prepare",
            "--out": "drift metrics: the headline scalars (JSON)",
            "--details": "the full drift report (JSON, not a DVC metric)",
            "--plots": "directory for one <feature>.json plot file per feature",
        },
        params=PARAMS_HELP + "; monitor.log names the log(s)",
    )
    run_stage("monitor", main, parser)
