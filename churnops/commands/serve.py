"""``churnops serve``: serve the model the registry names ``prod`` (FastAPI + uvicorn).

The flags become ``CHURNOPS_*`` environment variables, which the worker processes
inherit and read back as :class:`churnops.service.settings.Settings`.

Exit codes (:mod:`churnops.commands.common`): 0 stopped by SIGINT/SIGTERM after a graceful
shutdown (uvicorn hands the signal back once it is done; that is a clean stop, not 130), 2 a bad
flag value, no project at ``--repo``, or the port is taken (one line naming ``--port``).
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from churnops.commands.common import OK, add_repo_argument, field_default, field_type, project_root, value_type
from churnops.core.errors import ParamsError


def _bounded(
    kind: type, *, ge: float | None = None, gt: float | None = None, le: float | None = None
) -> Callable[[str], Any]:
    """A flag type bounded like a pydantic field (for the flags no settings model owns)."""
    from pydantic import Field

    return value_type(Annotated[kind, Field(ge=ge, gt=gt, le=le)], kind.__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags; the numbers that become :class:`~churnops.service.settings.Settings` fields are
    parsed with that model's own bounds, the others with pydantic bounds stated here."""
    from churnops.service.settings import Settings

    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=_bounded(int, ge=0, le=65535), default=8000, help="TCP port, 0 picks a free one (default: 8000)"
    )
    parser.add_argument(
        "--workers",
        type=_bounded(int, ge=1, le=64),
        default=field_default(Settings, "workers"),
        help="worker processes, 1-64 (default: %(default)s)",
    )
    parser.add_argument(
        "--log-path",
        default=str(field_default(Settings, "log_path")),
        help="prediction log, JSON lines (default: %(default)s)",
    )
    parser.add_argument(
        "--max-log-bytes",
        type=field_type(Settings, "max_log_bytes"),
        default=field_default(Settings, "max_log_bytes"),
        help="rotate the log at this size into <log>.1, <log>.2... (0: never; default: %(default)s)",
    )
    parser.add_argument(
        "--log-backups",
        type=field_type(Settings, "log_backups"),
        default=field_default(Settings, "log_backups"),
        help="rotated files to keep, older ones are deleted; 0 keeps all (default: %(default)s)",
    )
    parser.add_argument(
        "--log-archive",
        metavar="DEST",
        type=field_type(Settings, "log_archive"),
        help="ship rotated log files to this directory or s3://bucket/prefix (gzip); a rotated file is "
        "deleted only once archived (default: no archive)",
    )
    parser.add_argument(
        "--log-queue-lines",
        type=field_type(Settings, "log_queue_lines"),
        default=field_default(Settings, "log_queue_lines"),
        help="log lines a worker may queue; beyond, lines are dropped and counted (default: %(default)s)",
    )
    add_repo_argument(parser)
    parser.add_argument(
        "--registry-ref", type=field_type(Settings, "registry_ref"), default=field_default(Settings, "registry_ref"),
        metavar="REF",
        help="serve prod from this registry ref, e.g. origin/churnops/registry (default: the local "
        "churnops/registry branch, else the one remote-tracking */churnops/registry)",
    )  # fmt: skip
    parser.add_argument(
        "--max-body-bytes", type=field_type(Settings, "max_body_bytes"),
        default=field_default(Settings, "max_body_bytes"),
        help="413 above this body size (default: %(default)s)",
    )  # fmt: skip
    slow = parser.add_argument_group(
        "connections", "bounds on what slow or many clients can hold; in production put a reverse proxy with "
        "its own timeouts in front (docs/service.md)"
    )  # fmt: skip
    for flag, kind, bound, default, metavar, text in _CONNECTION_FLAGS:
        slow.add_argument(flag, type=_bounded(kind, ge=bound), default=default, metavar=metavar,
                          help=f"{text} (default: %(default)s)")  # fmt: skip


_CONNECTION_FLAGS: tuple[tuple[str, type, float, float, str, str], ...] = (
    ("--timeout-keep-alive", int, 1, 5, "S", "close an idle keep-alive connection after S seconds"),
    ("--timeout-request-head", float, 0.1, 10.0, "S",
     "close a connection whose request line and headers take longer than S seconds"),
    ("--limit-concurrency", int, 1, 1000, "N",
     "per worker: answer 503 to new requests past N open connections or tasks"),
    ("--backlog", int, 1, 2048, "N", "connections the kernel queues before the server accepts them"),
    ("--timeout-graceful-shutdown", int, 0, 30, "S",
     "on SIGINT/SIGTERM, wait at most S seconds for requests in flight"),
)  # fmt: skip
"""(flag, type, lower bound, default, metavar, help) of the flags that bound what clients can hold."""


class _Stopped(Exception):
    """SIGTERM, once uvicorn has shut down and handed the signal back."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped


def banner(url: str, repo: Path, registry_ref: str | None, log_path: Path, workers: int) -> str:
    """What ``churnops serve`` prints once it listens: where, which model, where predictions go.

    The model is loaded as each worker will load it (:func:`churnops.service.loader.describe`),
    so ``none: <the refusal>`` means the workers' ``/health`` answers 503 with that reason.
    """
    from churnops.service.loader import describe

    plural = "s" if workers != 1 else ""
    return (
        f"churnops serve: listening on {url} ({workers} worker{plural}); API docs at {url}/docs\n"
        f"  model: {describe(repo, registry_ref)}\n"
        f"  prediction log: {log_path}"
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; the exit code is 0 after a clean shutdown."""
    repo = project_root(args.repo)
    from churnops.service.server import serve
    from churnops.service.settings import ADMIN_TOKEN_ENV, Settings

    run_dir = Path(tempfile.mkdtemp(prefix="churnops-serve-")) if args.workers > 1 else None
    try:
        settings = Settings.model_validate(
            {
                "repo": repo,
                "registry_ref": args.registry_ref,
                "log_path": Path(args.log_path).resolve(),
                "max_log_bytes": args.max_log_bytes,
                "log_backups": args.log_backups,
                "log_archive": args.log_archive,
                "log_queue_lines": args.log_queue_lines,
                "max_body_bytes": args.max_body_bytes,
                "admin_token": os.environ.get(ADMIN_TOKEN_ENV) or None,
                "run_dir": run_dir,
                "workers": args.workers,
                "supervisor_pid": os.getpid() if run_dir else None,
            }
        )
    except ValueError as err:
        raise ParamsError(str(err).replace("\n", " ")) from None
    os.environ.update(settings.to_env())
    connections = {
        "timeout_keep_alive": args.timeout_keep_alive,
        "limit_concurrency": args.limit_concurrency,
        "backlog": args.backlog,
        "timeout_graceful_shutdown": args.timeout_graceful_shutdown,
    }

    def announce(url: str) -> None:
        print(banner(url, settings.repo, settings.registry_ref, settings.log_path, args.workers), flush=True)

    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        serve(
            "churnops.service.app:create_app", args.host, args.port, args.workers,
            head_timeout=args.timeout_request_head, announce=announce, **connections,
        )  # fmt: skip
    except (KeyboardInterrupt, _Stopped):
        # uvicorn shuts down gracefully, then re-raises the SIGINT/SIGTERM it caught: a clean stop.
        pass
    except OSError as err:  # binding failed: the port is taken, or the host is not an address of this machine
        # Exit 2, like any bad flag value: the fix is another --port (or --host).
        culprit = f"--port {args.port}" if err.errno == errno.EADDRINUSE else f"--host {args.host}"
        raise ParamsError(f"{culprit}: cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    return OK
