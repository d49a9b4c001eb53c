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

from churnops.core.errors import ParamsError


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
    slow = parser.add_argument_group(
        "connections", "bounds on what slow or many clients can hold; in production put a reverse proxy with "
        "its own timeouts in front (docs/service.md)"
    )  # fmt: skip
    slow.add_argument(
        "--timeout-keep-alive", type=int, default=5, metavar="S",
        help="close an idle keep-alive connection after S seconds (default: %(default)s)",
    )  # fmt: skip
    slow.add_argument(
        "--timeout-request-head", type=float, default=10.0, metavar="S",
        help="close a connection whose request line and headers take longer than S seconds (default: %(default)s)",
    )  # fmt: skip
    slow.add_argument(
        "--limit-concurrency", type=int, default=1000, metavar="N",
        help="per worker: answer 503 to new requests past N open connections or tasks (default: %(default)s)",
    )  # fmt: skip
    slow.add_argument(
        "--backlog", type=int, default=2048, metavar="N",
        help="connections the kernel queues before the server accepts them (default: %(default)s)",
    )  # fmt: skip
    slow.add_argument(
        "--timeout-graceful-shutdown", type=int, default=30, metavar="S",
        help="on SIGINT/SIGTERM, wait at most S seconds for requests in flight (default: %(default)s)",
    )  # fmt: skip


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
    from churnops.service.loader import PROJECT_MARKERS, is_project

    if not is_project(Path(args.repo)):
        raise ParamsError(
            f"--repo: no churnops project found at {Path(args.repo).resolve()} (no {' or '.join(PROJECT_MARKERS)} "
            "there): run from the project's root or pass --repo PATH"
        )
    for flag, low in (("timeout_keep_alive", 1), ("limit_concurrency", 1), ("backlog", 1),
                      ("timeout_graceful_shutdown", 0), ("timeout_request_head", 0.1)):  # fmt: skip
        if getattr(args, flag) < low:
            raise ParamsError(f"--{flag.replace('_', '-')}: {getattr(args, flag)} must be >= {low}")


def banner(url: str, repo: Path, log_path: Path, workers: int, log_mode: str) -> str:
    """What ``churnops serve`` prints once it listens: where, which model, where predictions go.

    The version is the md5 dvc.lock records; each worker verifies the file against it and
    ``/health`` says if it refused (the server then answers 503 with the reason).
    """
    from churnops.core.errors import ChurnopsError
    from churnops.versioning.lockfile import read_locked_model

    try:
        locked = read_locked_model(repo / "dvc.lock")
        model = f"{locked.md5} ({locked.path}, as dvc.lock records it)"
    except ChurnopsError as err:
        model = f"none yet: {err}; /health answers 503 until it is fixed and the server reloads"
    log = "off" if log_mode == "off" else str(log_path)
    plural = "s" if workers != 1 else ""
    return (
        f"churnops serve: listening on {url} ({workers} worker{plural}); API docs at {url}/docs\n"
        f"  model: {model}\n"
        f"  prediction log: {log}"
    )


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
    connections = {
        "timeout_keep_alive": args.timeout_keep_alive,
        "limit_concurrency": args.limit_concurrency,
        "backlog": args.backlog,
        "timeout_graceful_shutdown": args.timeout_graceful_shutdown,
    }

    def announce(url: str) -> None:
        print(banner(url, settings.repo, settings.log_path, args.workers, args.log_mode), flush=True)

    try:
        serve(
            "churnops.service.app:create_app", args.host, args.port, args.workers,
            head_timeout=args.timeout_request_head, announce=announce, **connections,
        )  # fmt: skip
    except OSError as err:  # e.g. the port is taken
        raise ParamsError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None
    finally:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0
