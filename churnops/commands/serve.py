"""``churnops serve``: serve the model that dvc.lock records (FastAPI + uvicorn).

The flags become ``CHURNOPS_*`` environment variables, which the worker processes
inherit and read back as :class:`churnops.service.settings.Settings`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from churnops.errors import ParamsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument(
        "--log-path", default="logs/predictions.jsonl", help="prediction log, JSON lines (default: %(default)s)"
    )
    parser.add_argument(
        "--max-log-bytes",
        type=int,
        default=100 * 1024 * 1024,
        help="rotate the log at this size into <log>.1, <log>.2... (0: never; default: %(default)s)",
    )
    parser.add_argument(
        "--log-backups",
        type=int,
        default=5,
        help="rotated files to keep, older ones are deleted; 0 keeps all (default: %(default)s)",
    )
    parser.add_argument(
        "--log-queue-lines",
        type=int,
        default=100_000,
        help="log lines a worker may queue; beyond, lines are dropped and counted (default: %(default)s)",
    )
    parser.add_argument("--repo", default=".", help="directory with dvc.lock and models/model.json (default: cwd)")
    parser.add_argument(
        "--log-mode",
        choices=["background", "sync", "off"],
        default="background",
        help="background writer thread (default), or sync/off to measure what logging costs",
    )
    parser.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024, help="413 above this body size")


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise ParamsError(f"--port: {args.port} is not a TCP port (0-65535)")
    if not 1 <= args.workers <= 64:
        raise ParamsError(f"--workers: {args.workers} must be between 1 and 64")
    if args.max_log_bytes < 0:
        raise ParamsError(f"--max-log-bytes: {args.max_log_bytes} must be >= 0")
    if args.log_backups < 0:
        raise ParamsError(f"--log-backups: {args.log_backups} must be >= 0")
    if args.log_queue_lines < 1:
        raise ParamsError(f"--log-queue-lines: {args.log_queue_lines} must be >= 1")
    if not Path(args.repo).is_dir():
        raise ParamsError(f"--repo: {args.repo} is not a directory")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; the exit code is 0 after a clean shutdown."""
    _check(args)
    from churnops.service.server import serve
    from churnops.service.settings import ADMIN_TOKEN_ENV, Settings

    run_dir = Path(tempfile.mkdtemp(prefix="churnops-serve-")) if args.workers > 1 else None
    try:
        settings = Settings.model_validate(
            {
                "repo": Path(args.repo).resolve(),
                "log_path": Path(args.log_path).resolve(),
                "max_log_bytes": args.max_log_bytes,
                "log_backups": args.log_backups,
                "log_queue_lines": args.log_queue_lines,
                "log_mode": args.log_mode,
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
    try:
        serve("churnops.service.app:create_app", args.host, args.port, args.workers)
    except OSError as err:  # e.g. the port is taken
        raise ParamsError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None
    finally:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0
