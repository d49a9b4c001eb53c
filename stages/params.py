"""DVC stage `params`: validate the whole of params.yaml before any other stage runs.

Every other stage depends on this one's output, so a typo'd, missing or out-of-range key
anywhere in params.yaml stops ``dvc repro`` here, in one line naming the dotted key. The
output is the params *schema* (keys, types, bounds), not the values: it changes only when
``churnops/core/params.py`` does, so editing a value re-runs this stage and then only the
stages that list that key.
"""

from __future__ import annotations

import argparse

from churnops.core.io import write_json
from churnops.core.params import load_params, params_schema
from churnops.core.stage import PARAMS_HELP, run_stage, stage_parser


def main(args: argparse.Namespace) -> None:
    load_params(args.params)
    write_json(args.out, params_schema())


if __name__ == "__main__":
    parser = stage_parser(
        __doc__,
        {"--out": "where to write the params schema (JSON)"},
        params=PARAMS_HELP,
    )
    run_stage("params", main, parser)
