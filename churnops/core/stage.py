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
    """The argument parser of a stage script: one *required* flag per path it reads or writes.

    A stage's ``cmd`` in ``dvc.yaml`` names those paths, and that is the one place they are
    written: a default here would be a second copy, free to drift from the first.

    Args:
        description: the script's docstring, for ``--help``.
        paths: ``{"--flag": "help"}``, one item per path.
        params: help for ``--params`` (also required; :data:`PARAMS_HELP` and more), when the stage
            reads ``params.yaml``.
    """
    parser = argparse.ArgumentParser(description=description)
    if params is not None:
        parser.add_argument("--params", required=True, help=params)
    for flag, help_text in paths.items():
        parser.add_argument(flag, required=True, help=help_text)
    return parser


def run_stage(name: str, main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser) -> None:
    """Parse arguments, run ``main`` and exit.

    An expected :class:`ChurnopsError` prints ``<stage>: <message>`` on stderr and exits 2
    for bad params (:class:`ParamsError`), 1 for anything else (DVC only tells zero from
    non-zero; the split is for a person reading ``$?``); a traceback is reserved for bugs.
    """
    args = parser.parse_args()
    try:
        main(args)
    except ChurnopsError as err:
        print(f"{name}: {err}", file=sys.stderr)
        sys.exit(2 if isinstance(err, ParamsError) else 1)
    except KeyboardInterrupt:
        sys.exit(130)
