"""Run a real `churnops serve` for a test: on 127.0.0.1, bounded, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.utils.project import VENV_BIN, env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    repo: Path,
    log: Path,
    *,
    workers: int = 1,
    token: str | None = None,
    timeout: float = 60,
    args: Sequence[str] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`churnops serve` for ``repo`` in its own process group; yields (url, process) once /health is 200.

    The server's output goes to a file beside ``log`` (a pipe nobody reads could fill and
    stall it) and is shown if it fails to start. On exit the whole group gets SIGINT, then
    SIGKILL after 30 s, so no worker outlives the test. ``args`` are extra ``churnops serve`` flags.
    """
    port = free_port()
    cmd = [str(VENV_BIN / "churnops"), "serve", "--workers", str(workers), "--host", "127.0.0.1",
           "--port", str(port), "--repo", str(repo), "--log-path", str(log), *args]  # fmt: skip
    extra = {"CHURNOPS_ADMIN_TOKEN": token} if token else {}
    output = log.parent / f"server-{port}.out"
    log.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            cmd, env={**env(), **extra}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"churnops serve exited with {proc.returncode}:\n{output.read_text()}"
            try:
                if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no healthy server within {timeout} s:\n{output.read_text()}"
            time.sleep(0.1)
        yield url, proc
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
    return httpx.get(f"{url}/health", timeout=10, trust_env=False).json()["model_version"]
