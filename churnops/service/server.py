"""Run an ASGI app under uvicorn, on 1 or N worker processes, without the Nagle stall.

Two things differ from ``uvicorn.run``:

- **TCP_NODELAY on the listening socket.** With several workers uvicorn binds the socket
  itself as ``socket(AF_INET)`` (``proto == 0``) and hands it to the workers. asyncio
  only sets TCP_NODELAY on accepted sockets whose ``proto`` is ``IPPROTO_TCP``, so on
  plain asyncio every keep-alive response waited ~40 ms for Nagle + delayed ACK (hello
  fell from ~4,700 to ~360 req/s). Linux copies TCP_NODELAY from the listening socket to
  every accepted one, so setting it once here fixes all loops; we also pick uvloop and
  httptools explicitly.
- **SIGHUP reloads the model in every worker, in place.** uvicorn's supervisor answers
  SIGHUP by replacing the worker processes; ours forwards the signal to each worker,
  whose lifespan handler swaps the model atomically (no dropped keep-alive connections,
  no cold start). ``POST /admin/reload`` on any worker uses the same path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from typing import Any

logger = logging.getLogger("churnops.service")


def nodelay_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A bound, listening TCP socket whose accepted connections inherit TCP_NODELAY."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def make_config(app: str, host: str, port: int, workers: int, **overrides: Any) -> Any:
    """The uvicorn Config used by both the service and the benchmark's hello app."""
    import uvicorn

    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,  # the prediction log is the access log; uvicorn's costs ~15% throughput
        "timeout_graceful_shutdown": 30,
        "log_level": "info",
        "log_config": _log_config(),
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging config, plus our ``churnops`` logger on the same handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["churnops"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def serve(app: str, host: str, port: int, workers: int = 1, **overrides: Any) -> None:
    """Serve ``app`` (an import string of a factory) until SIGINT/SIGTERM."""
    from uvicorn.server import Server

    config = make_config(app, host, port, workers, **overrides)
    sock = nodelay_socket(host, port)
    try:
        if workers <= 1:
            Server(config).run(sockets=[sock])
        else:
            supervisor_class()(config, sockets=[sock]).run()
    finally:
        sock.close()


def supervisor_class() -> type:
    """uvicorn's multiprocess supervisor, with SIGHUP forwarded instead of restarting workers."""
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            logger.info("SIGHUP: asking %d workers to reload the model", len(self.processes))
            for process in self.processes:
                pid = process.pid
                if pid is not None and process.process.is_alive():
                    # A worker that died meanwhile is restarted fresh, from the same dvc.lock.
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGHUP)

    return Supervisor
