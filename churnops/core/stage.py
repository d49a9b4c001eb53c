"""The common entry point of the stage scripts: their arguments, and one readable line on expected errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping

from churnops.core.errors import ChurnopsError, ParamsError

PARAMS_HELP = "the params file (params.yaml)"
"""``--help`` of ``--params``; a stage may add what it reads there."""


def stage_parser(
    description: str | None, paths: Mapping[str, str], params: str | None = None
) -> argparse.ArgumentParser:
    """The argument parser of a stage script: one *required* flag per path, ``{"--flag": "help"}``.

    Required because the stage's ``cmd`` in ``dvc.yaml`` is the one place paths are written: a
    default here would be a second copy. ``params`` is the help of ``--params``, when the stage has it.
    """
    parser = argparse.ArgumentParser(description=description)
    if params is not None:
        parser.add_argument("--params", required=True, help=params)
    for flag, help_text in paths.items():
        parser.add_argument(flag, required=True, help=help_text)
    return parser


def run_stage(name: str, main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser) -> None:
    """Parse arguments, run ``main`` and exit; a :class:`ChurnopsError` prints ``<stage>: <message>``.

    Exit 2 for a :class:`ParamsError`, else 1: DVC only tells zero from non-zero, the split is
    for a person reading ``$?``. A traceback is reserved for bugs.
    """
    args = parser.parse_args()
    try:
        main(args)
    except ChurnopsError as err:
        print(f"{name}: {err}", file=sys.stderr)
        sys.exit(2 if isinstance(err, ParamsError) else 1)
    except KeyboardInterrupt:
        sys.exit(130)
