"""The ``churnops`` command: serve, monitor, simulate, feedback, logs, report, models, promote, rollback.

Each subcommand lives in its own module under :mod:`churnops.commands`, exposing
``add_arguments(parser)`` and ``run(args) -> int``. They are imported only when chosen,
so ``churnops --help`` stays instant. ``--repo`` and the exit codes (0 ok, 1 finding or
failure, 2 bad usage or input; 75 when promote/rollback find the repository busy) are defined once, in
:mod:`churnops.commands.common`, for every command alike.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from churnops.commands.common import ArgumentParser, exit_code, run_command
from churnops.core.errors import ParamsError

COMMANDS: dict[str, str] = {
    "serve": "Serve the model the registry names prod (FastAPI + uvicorn)",
    "monitor": "Check the latest predictions for drift against the training statistics",
    "simulate": "Send generated (optionally drifted) customers to a running service",
    "models": "List the model versions, which one is prod, and the history of prod",
    "promote": "Put HEAD's candidate in prod, as its committed verdict recommends",
    "rollback": "Put an earlier model (a version or a Git revision) back in prod",
    "feedback": "Join delayed churn labels to the prediction log: live F1 per model version",
    "report": "Drift, estimated and realized F1 per chunk of the log and per model version, on one offline page",
    "logs": "Ship rotated prediction-log files to an archive (a directory or an S3 bucket)",
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"churnops.commands.{name}")


def build_parser(names: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only the subcommand being run is imported."""
    parser = ArgumentParser(
        prog="churnops",
        description="churnops: serve, monitor, simulate, promote and roll back the churn model.",
        epilog="--repo PATH is the project root (default: .) for every command but simulate. Exit codes: "
        "0 ok, 1 a finding asked to fail on or a failed operation, 2 bad usage or input; promote and "
        "rollback also 75 (repository busy).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if names is None or name in names:
            _load(name).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = [a for a in argv if a in COMMANDS][:1]
    name = chosen[0] if chosen else ""
    try:
        args = build_parser(chosen).parse_args(argv)
    except ParamsError as err:  # a usage error: one line, exit 2, like any bad input
        print(f"churnops{' ' + name if name else ''}: {err}", file=sys.stderr)
        return exit_code(err)
    return run_command(args.command, _load(args.command).run, args)


if __name__ == "__main__":
    sys.exit(main())
