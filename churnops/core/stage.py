"""The common entry point of the stage scripts: one readable line on expected errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from churnops.core.errors import ChurnopsError, ParamsError


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
