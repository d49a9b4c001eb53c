"""The HTTP edge on a real `churnops serve`: what it prints, slow clients, a path with no
project, and /docs rendered by headless Chromium with no network."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from churnops.cli import main as cli_main
from churnops.commands.serve import banner
from churnops.core.errors import ChurnopsError
from churnops.service.loader import RegistryModelLoader
from churnops.service.server import make_config
from churnops.versioning import registry
from tests.utils.browser import require_chromium
from tests.utils.server import running_server
from tests.utils.service import Trained, cache_object, flip_one_byte, git, served_repo


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (reads b''), or None if it stayed open."""
    sock.settimeout(seconds)
    start = time.monotonic()
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return time.monotonic() - start
    except TimeoutError:
        return None
    except ConnectionResetError:
        return time.monotonic() - start


def test_serve_refuses_a_path_with_no_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["serve", "--repo", str(tmp_path), "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no churnops project found at" in err and str(tmp_path) in err
    assert "--repo PATH" in err


def test_the_banner_says_what_will_be_served_or_why_nothing(tmp_path: Path, logreg_model: Trained) -> None:
    repo = served_repo(tmp_path / "repo", logreg_model)
    log = tmp_path / "p.jsonl"
    tip = registry.read(repo)
    assert tip.commit is not None
    lines = banner("http://127.0.0.1:8000", repo, None, log, 2).splitlines()
    assert lines == [
        "churnops serve: listening on http://127.0.0.1:8000 (2 workers); API docs at http://127.0.0.1:8000/docs",
        f"  model: {logreg_model.md5} (prod in churnops/registry at {tip.commit[:12]}, "
        f"built by {git(repo, 'rev-parse', 'HEAD')[:12]})",
        f"  prediction log: {log}",
    ]
    git(repo, "update-ref", "refs/remotes/origin/churnops/registry", tip.commit)
    assert "(prod in origin/churnops/registry at " in banner("u", repo, "origin/churnops/registry", log, 1)
    git(repo, "branch", "-q", "-D", "churnops/registry")
    git(repo, "update-ref", "-d", "refs/remotes/origin/churnops/registry")
    assert banner("u", repo, None, log, 1).splitlines()[1] == (
        "  model: none: no model registry yet (no churnops/registry branch, local or remote-tracking): "
        "run `churnops promote`; /health answers 503 until then, and a reload picks it up"
    )


@pytest.mark.parametrize("fault", ["corrupt", "nowhere"])
def test_the_banner_says_none_when_the_workers_would_refuse_the_model(
    tmp_path: Path, logreg_model: Trained, fault: str
) -> None:
    """The registry names a model whose bytes do not verify, or are in no cache and no remote: the
    workers answer 503, so the banner says none, with their refusal, not the md5."""
    repo = served_repo(tmp_path / "repo", logreg_model)
    obj = cache_object(repo, logreg_model.md5)
    if fault == "corrupt":
        flip_one_byte(obj, 10)
    else:
        obj.unlink()
    with pytest.raises(ChurnopsError) as refused:
        RegistryModelLoader(repo).load()
    model_line = banner("u", repo, None, tmp_path / "p.jsonl", 2).splitlines()[1]
    assert model_line == f"  model: none: {refused.value}; /health answers 503 until then, and a reload picks it up"
    assert ("is corrupt" if fault == "corrupt" else "not in the DVC cache") in model_line
    assert str(tmp_path) not in model_line


@pytest.mark.slow
@pytest.mark.e2e
def test_a_served_refusal_is_the_banners_and_every_workers(tmp_path: Path, logreg_model: Trained) -> None:
    repo = served_repo(tmp_path / "repo", logreg_model)
    flip_one_byte(cache_object(repo, logreg_model.md5), 10)
    log = tmp_path / "logs" / "predictions.jsonl"
    with running_server(repo, log, workers=2, expect_health=503) as (url, _proc):
        reasons = {httpx.get(f"{url}/health", timeout=10).json()["reason"] for _ in range(6)}
        out = next(log.parent.glob("server-*.out")).read_text()
    (reason,) = reasons
    assert "is corrupt" in reason
    assert f"  model: none: {reason}; /health answers 503 until then" in out


@pytest.mark.parametrize("flag", ["--timeout-keep-alive", "--limit-concurrency", "--backlog", "--timeout-request-head"])
def test_serve_refuses_a_nonpositive_connection_bound(tmp_path: Path, flag: str, capsys) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    assert cli_main(["serve", "--repo", str(tmp_path), flag, "0"]) == 2
    assert flag in capsys.readouterr().err


def test_connection_bounds_reach_uvicorn() -> None:
    config = make_config("x:y", "127.0.0.1", 0, 1, head_timeout=2.5, timeout_keep_alive=3, limit_concurrency=7)
    assert (config.timeout_keep_alive, config.limit_concurrency, config.head_timeout) == (3, 7, 2.5)
    assert config.http.endswith(":HeadTimeoutProtocol")


@pytest.mark.slow
@pytest.mark.e2e
def test_serve_announces_url_model_and_log_and_drops_slow_clients(tmp_path: Path, logreg_model: Trained) -> None:
    repo = served_repo(tmp_path / "repo", logreg_model)
    log = tmp_path / "logs" / "predictions.jsonl"
    # The registry as a fetched clone has it (no local branch), named by --registry-ref.
    tip = registry.read(repo).commit
    assert tip is not None
    git(repo, "update-ref", "refs/remotes/origin/churnops/registry", tip)
    git(repo, "branch", "-q", "-D", "churnops/registry")
    flags = ["--timeout-request-head", "1", "--timeout-keep-alive", "1", "--registry-ref", "origin/churnops/registry"]
    with running_server(repo, log, args=flags) as (url, _proc):
        out = next(log.parent.glob("server-*.out")).read_text()
        assert f"listening on {url} (1 worker)" in out
        assert f"model: {logreg_model.md5} (prod in origin/churnops/registry at {tip[:12]}, " in out
        assert f", built by {git(repo, 'rev-parse', 'HEAD')[:12]})" in out
        assert f"prediction log: {log}" in out
        assert httpx.get(f"{url}/health", timeout=10).json()["registry_ref"] == "origin/churnops/registry"
        port = int(url.rsplit(":", 1)[1])

        # Half a request head, then silence: closed by the head deadline (it used to stay open).
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
            waited = _closed_within(s, 10)
        assert waited is not None and waited < 5, waited

        # A kept-alive connection whose next head stalls: closed too.
        body = b'{"tenure_months":3,"num_complaints":4,"avg_session_minutes":8.5,"plan":"basic","region":"south"}'
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
            s.settimeout(10)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
            s.sendall(b"GET /health HTTP/1.1\r\nHo")
            waited = _closed_within(s, 10)
        assert waited is not None and waited < 5, waited

        # An idle keep-alive connection: closed after --timeout-keep-alive.
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(10)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
            waited = _closed_within(s, 10)
        assert waited is not None and waited < 5, waited


def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes: (status, headers lower-cased, body)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(request)
        s.settimeout(10)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.slow
@pytest.mark.e2e
def test_uvicorns_own_answers_are_json_with_a_request_id(tmp_path: Path, logreg_model: Trained) -> None:
    """What uvicorn answers before the app runs (a request its parser refuses, an overloaded worker)
    is JSON with an X-Request-ID, as docs/service.md promises of every response."""
    repo = served_repo(tmp_path / "repo", logreg_model)
    with running_server(repo, tmp_path / "logs" / "predictions.jsonl", args=["--limit-concurrency", "2"]) as (url, _):
        port = int(url.rsplit(":", 1)[1])

        # A malformed Content-Length: httptools refuses the request, uvicorn answers 400 and closes.
        status, headers, body = _raw_exchange(
            port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1x\r\n\r\n{}"
        )
        assert (status, headers["content-type"], headers["connection"]) == (400, "application/json", "close")
        assert json.loads(body) == {"detail": "invalid HTTP request: the request line or a header could not be parsed"}
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", headers["x-request-id"]
        )

        # --limit-concurrency 2: one kept-alive connection is open, a second one is over the limit.
        with httpx.Client(base_url=url, timeout=10) as held:
            deadline = time.monotonic() + 10
            while held.get("/health").status_code != 200:  # the readiness probe's last connection may linger
                assert time.monotonic() < deadline
                time.sleep(0.1)
            with httpx.Client(base_url=url, timeout=10) as second:
                r = second.get("/health", headers={"X-Request-ID": "over-1"})
        assert (r.status_code, r.headers["content-type"], r.headers["connection"]) == (503, "application/json", "close")
        assert r.json() == {
            "detail": "overloaded: this worker has --limit-concurrency 2 connections or requests open; retry later"
        }
        assert r.headers["x-request-id"] == "over-1"


@pytest.mark.slow
@pytest.mark.e2e
def test_docs_render_in_headless_chromium_with_no_network(tmp_path: Path, logreg_model: Trained) -> None:
    browser = require_chromium()
    repo = served_repo(tmp_path / "repo", logreg_model)
    with running_server(repo, tmp_path / "logs" / "predictions.jsonl") as (url, _proc):
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            # No network but this server: any CDN URL fails to resolve, as on an air-gapped machine.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=15000", "--dump-dom", f"{url}/docs",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Swagger UI rendered the spec: one operation block per endpoint, with its path.
    blocks = re.findall(r'class="opblock opblock-(?:post|get)', dom)
    assert len(blocks) >= 4, dom[:2000]
    for path in ("/predict", "/predict/batch", "/health", "/admin/reload"):
        assert f'data-path="{path}"' in dom, path
