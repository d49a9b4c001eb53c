"""Run an ASGI app under uvicorn, on 1 or N worker processes, without the Nagle stall.

What differs from ``uvicorn.run``:

- **TCP_NODELAY on the listening socket.** uvicorn binds a ``proto == 0`` socket, and asyncio
  sets TCP_NODELAY only on accepted sockets whose ``proto`` is ``IPPROTO_TCP``: every
  keep-alive response waited ~40 ms for Nagle + delayed ACK (hello fell from ~4,700 to
  ~360 req/s). Linux copies the option from the listening socket to every accepted one.
- **SIGHUP reloads the model in every worker, in place**, instead of replacing the workers:
  no dropped keep-alive connections, no cold start. ``POST /admin/reload`` takes the same path.
- **A deadline for the request head.** uvicorn does not time out a client that sends half
  its headers and stalls (slowloris). Slow *bodies* and connection floods are a reverse
  proxy's job (docs/service.md).
- **uvicorn's own answers are JSON too**: the unparsable request's 400 and the
  ``limit_concurrency`` 503 get a JSON ``detail`` and an ``X-Request-ID``, like the app's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

import orjson
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from churnops.service.middleware import REQUEST_ID_HEADER, request_id_from

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


HEAD_TIMEOUT = 10.0  # seconds


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a deadline from a request's start to its last header.

    A head starts when the connection opens, or at a keep-alive request's first byte. One sweep
    per worker closes the overdue connections: a timer per request (``call_later`` + ``cancel``)
    cost 3.3 µs, ~5% of a hello request; marking the start costs ~0.1 µs.
    """

    _swept_loop: Any = None

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_timeout: float | None = getattr(config, "head_timeout", None)
        self.head_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.head_timeout:
            self.head_since = self.loop.time()
            if HeadTimeoutProtocol._swept_loop is not self.loop:
                HeadTimeoutProtocol._swept_loop = self.loop
                _sweep(self.loop, self.connections, self.head_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_since is None and self.head_timeout:
            self.head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.head_since = None
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # The head could not be parsed, so no header of it (X-Request-ID included) can be trusted.
        body = orjson.dumps({"detail": "invalid HTTP request: the request line or a header could not be parsed"})
        head = _response_head(400, request_id_from(None), len(body), self.server_state.default_headers)
        self.transport.write(head + body)
        self.transport.close()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        # uvicorn picks its plain-text service_unavailable app for a request past the limit.
        if app is service_unavailable:
            app = functools.partial(_overloaded, self.limit_concurrency)
        super()._start_asgi_task(cycle, app)

    def head_overdue(self) -> None:
        self.head_since = None
        if not self.transport.is_closing():
            logger.info("closing a connection from %s: no request head in %g s", self.client, self.head_timeout)
            self.transport.close()


_REASONS = {400: b"Bad Request", 503: b"Service Unavailable"}


def _response_head(status: int, request_id: str, length: int, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A closing response's head written straight to the transport, with uvicorn's default headers."""
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS[status])]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: %d" % length,
        REQUEST_ID_HEADER + b": " + request_id.encode(),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _overloaded(limit: int | None, scope: Any, receive: Any, send: Any) -> None:
    """The 503 of a request past ``limit_concurrency``, as JSON with the request's id."""
    sent_id = next((value for name, value in scope["headers"] if name == REQUEST_ID_HEADER), None)
    body = orjson.dumps(
        {"detail": f"overloaded: this worker has --limit-concurrency {limit} connections or requests open; retry later"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (REQUEST_ID_HEADER, request_id_from(sent_id).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any], timeout: float) -> None:
    """Close every connection of this worker whose request head is overdue; run again shortly."""
    now = loop.time()
    for proto in list(connections):
        since = getattr(proto, "head_since", None)
        if since is not None and now - since > timeout:
            proto.head_overdue()
    loop.call_later(min(1.0, timeout / 2), _sweep, loop, connections, timeout)


def make_config(
    app: str, host: str, port: int, workers: int, head_timeout: float | None = HEAD_TIMEOUT, **overrides: Any
) -> Any:
    """The uvicorn Config of the service and of the benchmark's hello app; ``overrides`` go to uvicorn."""
    import uvicorn

    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "uvloop",
        "http": f"{__name__}:HeadTimeoutProtocol",
        "lifespan": "on",
        "access_log": False,  # the prediction log is the access log; uvicorn's costs ~15% throughput
        "timeout_graceful_shutdown": 30,
        "log_level": "info",
        "log_config": _log_config(),
    }
    options.update(overrides)
    config = uvicorn.Config(app, **options)
    config.head_timeout = head_timeout  # type: ignore[attr-defined]  # our own attribute, pickled with the Config into every worker
    return config


def _log_config() -> dict[str, Any]:
    """uvicorn's logging config, plus our ``churnops`` logger on the same handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["churnops"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def serve(
    app: str,
    host: str,
    port: int,
    workers: int = 1,
    *,
    announce: Callable[[str], None] | None = None,
    **overrides: Any,
) -> None:
    """Serve ``app`` (an import string of a factory) until SIGINT/SIGTERM.

    ``announce`` gets the URL once the socket listens (port 0 resolved).
    """
    from uvicorn.server import Server

    config = make_config(app, host, port, workers, **overrides)
    sock = nodelay_socket(host, port, backlog=config.backlog)
    try:
        if announce is not None:
            bound_host, bound_port = sock.getsockname()[:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            announce(f"http://{shown}:{bound_port}")
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
                    # A worker that died meanwhile is restarted fresh, from the same registry.
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGHUP)

    return Supervisor
