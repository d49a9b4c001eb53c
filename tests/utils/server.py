"""Run a real server for a test or a benchmark: on 127.0.0.1, bounded, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.utils.project import VENV_BIN, env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    repo: Path,
    log: Path,
    *,
    workers: int = 1,
    token: str | None = None,
    timeout: float = 60,
    args: Sequence[str] = (),
    expect_health: int = 200,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`churnops serve` for ``repo``; yields (url, process) once /health answers ``expect_health``
    (503: a server that runs but has nothing to serve; see :func:`running`).

    The server's output goes to a file beside ``log``. ``args`` are extra ``churnops serve`` flags.
    """
    port = free_port()
    cmd = [str(VENV_BIN / "churnops"), "serve", "--workers", str(workers), "--host", "127.0.0.1",
           "--port", str(port), "--repo", str(repo), "--log-path", str(log), *args]  # fmt: skip
    extra = {"CHURNOPS_ADMIN_TOKEN": token} if token else {}
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    output = log.parent / f"server-{port}.out"
    with running(cmd, f"{url}/health", output, env={**env(), **extra}, timeout=timeout, status=expect_health) as p:
        yield url, p


@contextmanager
def running(
    cmd: Sequence[str],
    health_url: str,
    output: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    status: int = 200,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` (a server) in its own process group; yield it once ``health_url`` answers ``status``.

    The server's output goes to ``output`` (a pipe nobody reads could fill and stall it) and is
    shown if it fails to start. On exit the whole group gets SIGINT, then SIGKILL after 30 s,
    so no worker outlives the caller. Tests and ``bench/serve.py`` start their servers here.
    """
    with output.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            list(cmd), env=dict(env) if env is not None else None, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"{cmd[0]} exited with {proc.returncode}:\n{output.read_text()}"
            try:
                if httpx.get(health_url, timeout=2, trust_env=False).status_code == status:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no healthy server within {timeout} s:\n{output.read_text()}"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def health_version(url: str) -> str:
    """The model version a running service reports on /health."""
    return str(httpx.get(f"{url}/health", timeout=10, trust_env=False).json()["model_version"])


def stop_pid_file(pid_file: Path) -> None:
    """Stop a server whose pid a document wrote to ``pid_file``, if it still runs: SIGTERM, then
    SIGKILL after 10 s."""
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
