"""What every ``churnops`` command shares: ``--repo``, value parsing, exit codes.

- ``--repo PATH`` means the same everywhere (:func:`add_repo_argument`); ``simulate``, a client
  of a running service, reads nothing from a project and has none.
- Flag values are bounded by the same annotations as ``params.yaml`` (:func:`field_type`).
- Exit codes are decided here, at the CLI edge, and nowhere else:

  ====  =========  ======================================================================
  code  name       meaning
  ====  =========  ======================================================================
  0     OK         the command did its job (a check ran, whatever it found)
  1     FAILURE    a finding the caller asked to fail on (``--fail-on-drift``), or an
                   operation that failed (the service answered an error, a promotion was
                   refused, a model did not verify or is nowhere to be fetched)
  2     USAGE      bad usage or bad input: an unknown flag, a value out of range, no
                   project at ``--repo``, an unreadable or malformed input file, a port
                   that is taken, a version that names no model
  75    BUSY       ``promote``/``rollback``: another churnops command holds the repository
                   lock (``EX_TEMPFAIL``: try again later)
  130   -          interrupted (Ctrl-C)
  ====  =========  ======================================================================

  :data:`EXIT_CODES` maps error classes to codes (the classes carry none).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

from churnops.core import paths
from churnops.core.errors import ChurnopsError, InputError, ParamsError, RepositoryBusyError, UnreachableError

OK = 0
FAILURE = 1
USAGE = 2
BUSY = 75
INTERRUPTED = 130

PROJECT_MARKERS = paths.PROJECT_MARKERS


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is a :class:`ParamsError`: one line, exit code 2, like any other error."""

    def error(self, message: str) -> NoReturn:
        raise ParamsError(f"{message} (see `{self.prog} --help`)")


def add_repo_argument(parser: argparse.ArgumentParser) -> None:
    """The one ``--repo`` option: a :class:`~pathlib.Path`, default ``.``."""
    parser.add_argument(
        "--repo",
        type=Path,
        default=Path("."),
        metavar="PATH",
        help=f"the project root, the directory with {' or '.join(PROJECT_MARKERS)} (default: .)",
    )


def project_root(repo: Path) -> Path:
    """``repo`` resolved, or a ParamsError (exit 2) naming ``--repo`` when it is no project root."""
    if not repo.is_dir():
        raise ParamsError(f"--repo {repo}: no such directory")
    if not any((repo / name).is_file() for name in PROJECT_MARKERS):
        raise ParamsError(
            f"--repo {repo}: no churnops project found at {repo.resolve()} (no {' or '.join(PROJECT_MARKERS)} there); "
            "run from the project's root or pass --repo PATH"
        )
    return repo.resolve()


def value_type(annotation: Any, what: str = "value") -> Callable[[str], Any]:
    """An argparse ``type=`` that parses a flag's text with pydantic against ``annotation``.

    A value that breaks a constraint is refused with pydantic's message.
    """
    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(annotation)

    def parse(raw: str) -> Any:
        try:
            return adapter.validate_strings(raw, strict=False)
        except ValidationError as err:
            message = err.errors()[0]["msg"]
            raise argparse.ArgumentTypeError(f"{message} (got {raw!r})") from None

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def field_type(model: Any, name: str) -> Callable[[str], Any]:
    """:func:`value_type` of a params model's field: ``--last-n`` holds ``monitor.last_n``'s bounds."""
    info = model.model_fields[name]
    annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return value_type(annotation, f"{model.__name__}.{name}")


def field_default(model: Any, name: str) -> Any:
    """A settings or params model field's default: a flag shows and uses the model's, never a copy."""
    return model.model_fields[name].get_default(call_default_factory=True)


EXIT_CODES: dict[type[ChurnopsError], int] = {
    ParamsError: USAGE,
    InputError: USAGE,  # an unusable input file: a bad argument, not a finding (1 means drift to cron)
    UnreachableError: USAGE,  # nothing answers at --url: a wrong URL or a service not started
    RepositoryBusyError: BUSY,
}
"""Error classes whose exit code is not :data:`FAILURE`; a subclass takes its base's code."""


def exit_code(err: BaseException) -> int:
    """The process exit code for an exception that reached the CLI edge."""
    if isinstance(err, KeyboardInterrupt):
        return INTERRUPTED
    for cls in type(err).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return FAILURE


def run_command(name: str, func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a command's ``run(args)``; expected errors become one stderr line and an exit code, bugs a traceback."""
    try:
        return int(func(args) or OK)
    except BrokenPipeError:
        # The reader went away (`churnops models | head`): not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except (ChurnopsError, KeyboardInterrupt) as err:
        if isinstance(err, ChurnopsError):
            print(f"churnops {name}: {err}", file=sys.stderr)
        return exit_code(err)
