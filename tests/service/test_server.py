"""The real server: `churnops serve` with 2 uvicorn workers on 127.0.0.1, its log, reloads and flags."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from churnops.cli import main as cli_main
from churnops.core.errors import ParamsError
from churnops.service.server import nodelay_socket
from churnops.service.settings import Settings
from tests.utils.factories import GOOD_CUSTOMER as GOOD
from tests.utils.logread import read_log
from tests.utils.server import running_server
from tests.utils.service import TOKEN, Trained, build, cache_object, deploy, flip_one_byte, git, promote, served_repo


def stop(proc: subprocess.Popen[bytes]) -> int:
    os.killpg(proc.pid, signal.SIGINT)
    return proc.wait(30)


def children(pid: int) -> set[int]:
    """PIDs of a process's children (Linux /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def wait_for_workers(url: str, workers: int, seconds: float = 30) -> None:
    """Until ``workers`` distinct pids have answered /health: each has started up (and handles SIGHUP)."""
    pids: set[int] = set()
    deadline = time.monotonic() + seconds
    while len(pids) < workers:
        assert time.monotonic() < deadline, f"only {len(pids)} of {workers} workers answered"
        with httpx.Client(timeout=10) as c:
            pids.add(c.get(f"{url}/health").json()["pid"])


def fresh_health(url: str, n: int = 6) -> set[str]:
    """model_version as seen on ``n`` new connections (the kernel spreads them over the workers)."""
    versions = set()
    for _ in range(n):
        with httpx.Client(timeout=10) as c:
            versions.add(c.get(f"{url}/health").json()["model_version"])
    return versions


@pytest.mark.slow
@pytest.mark.e2e
def test_two_workers_log_exactly_one_line_per_returned_prediction(tmp_path: Path, logreg_model: Trained) -> None:
    repo = served_repo(tmp_path / "repo", logreg_model)
    log = tmp_path / "logs" / "predictions.jsonl"
    expected: Counter[tuple[str, int | None]] = Counter()
    returned: dict[str, float] = {}
    lock = threading.Lock()
    failures: list[str] = []

    def client(k: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(300):
                headers = {"X-Request-ID": f"c{k}-{i}"} if i % 2 else {}
                if i % 25 == 0:
                    r = c.post("/predict/batch", json={"items": [GOOD] * 4}, headers=headers)
                    keys = [(r.json()["request_id"], j) for j in range(4)] if r.status_code == 200 else []
                else:
                    r = c.post("/predict", json={**GOOD, "tenure_months": i % 200}, headers=headers)
                    keys = [(r.json()["request_id"], None)] if r.status_code == 200 else []
                with lock:
                    if r.status_code != 200:
                        failures.append(r.text)
                    expected.update(keys)
                    if r.status_code == 200 and "churn_probability" in r.json():
                        returned[r.json()["request_id"]] = r.json()["churn_probability"]

    with running_server(repo, log, workers=2, token=TOKEN) as (url, proc):
        threads = [threading.Thread(target=client, args=(k, url)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert stop(proc) == 0  # graceful: the workers flush their logs on the way out

    assert not failures
    assert sum(expected.values()) == 8 * (288 + 12 * 4)
    contents = read_log(log)
    recs = contents.predictions
    assert not contents.skipped  # no torn or interleaved line
    logged = Counter((r["request_id"], r.get("item")) for r in recs)
    assert logged == expected  # none lost, none duplicated
    assert {r["model_version"] for r in recs} == {logreg_model.md5}
    for r in recs:
        if r.get("item") is None:
            assert r["churn_probability"] == returned[r["request_id"]]


@pytest.mark.slow
@pytest.mark.e2e
def test_reload_reaches_every_worker(tmp_path: Path, logreg_model: Trained, logreg_model_b: Trained) -> None:
    repo = served_repo(tmp_path / "repo", logreg_model)
    built_a = git(repo, "rev-parse", "HEAD")
    with running_server(repo, tmp_path / "p.jsonl", workers=2, token=TOKEN) as (url, proc):
        wait_for_workers(url, 2)  # a SIGHUP that reaches a worker still starting up is not acted on
        assert fresh_health(url) == {logreg_model.md5}
        deploy(repo, logreg_model_b)
        r = httpx.post(f"{url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "reloaded"
        assert body["model_version"] == logreg_model_b.md5
        assert body["previous_version"] == logreg_model.md5
        assert body["workers"] == {"updated": 2, "total": 2}
        assert fresh_health(url) == {logreg_model_b.md5}

        # SIGHUP to the server does the same: every worker swaps, none restarts. It follows the
        # registry (back to A), not the work tree, which records B on a new commit of main.
        workers = children(proc.pid)
        build(repo, logreg_model_b, {"f1": 0.1})
        promote(repo, logreg_model.md5, built_a)
        os.kill(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while fresh_health(url) != {logreg_model.md5}:
            assert time.monotonic() < deadline, "SIGHUP did not reload every worker"
            time.sleep(0.2)
        assert children(proc.pid) == workers  # reloaded in place: no worker was replaced
        assert proc.poll() is None

        # A refused model keeps the old one on every worker.
        flip_one_byte(cache_object(repo, logreg_model.md5), 10)
        r = httpx.post(f"{url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert r.status_code == 409
        assert fresh_health(url) == {logreg_model.md5}


def every_worker(url: str, workers: int = 2, attempts: int = 300) -> dict[int, dict[str, Any]]:
    """/health of each worker, by pid: new connections until every worker has answered (bounded)."""
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(attempts):
        with httpx.Client(timeout=10) as c:
            body = c.get(f"{url}/health").json()
        seen[body["pid"]] = body
        if len(seen) == workers:
            return seen
    raise AssertionError(f"only workers {sorted(seen)} answered {attempts} new connections")


@pytest.mark.slow
@pytest.mark.e2e
def test_a_reload_failed_or_not_is_recorded_by_every_worker(tmp_path: Path, logreg_model: Trained) -> None:
    """A refused reload sets last_reload_error on every worker before the 409, the next good one
    clears it on every worker before the 200 (it alternated with null, then lingered)."""
    repo = served_repo(tmp_path / "repo", logreg_model)
    obj = cache_object(repo, logreg_model.md5)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with running_server(repo, tmp_path / "p.jsonl", workers=2, token=TOKEN) as (url, _proc):
        reload_url = f"{url}/admin/reload"
        assert {h["model_version"] for h in every_worker(url).values()} == {logreg_model.md5}  # both loaded
        for round_ in range(2):  # twice: the second failure lands on a worker that has an error already
            flip_one_byte(obj, 10)
            failed = httpx.post(reload_url, headers=auth, timeout=30)
            assert failed.status_code == 409, failed.text
            reason = failed.json()["reason"]
            assert "is corrupt" in reason
            health = every_worker(url)
            assert {pid: h["last_reload_error"] for pid, h in health.items()} == dict.fromkeys(health, reason)
            assert {h["model_version"] for h in health.values()} == {logreg_model.md5}  # still served
            assert failed.json()["workers"] == {"updated": 2, "total": 2}, round_

            flip_one_byte(obj, 10)  # repaired: the same model verifies again
            ok = httpx.post(reload_url, headers=auth, timeout=30)
            assert ok.status_code == 200, ok.text
            assert (ok.json()["changed"], ok.json()["workers"]) == (False, {"updated": 2, "total": 2})
            health = every_worker(url)
            assert {pid: h["last_reload_error"] for pid, h in health.items()} == dict.fromkeys(health)


def test_accepted_connections_inherit_tcp_nodelay() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and uvicorn's own socket has
    proto 0: every keep-alive response would wait ~40 ms for a delayed ACK."""
    with nodelay_socket("127.0.0.1", 0) as listener, socket.create_connection(listener.getsockname()) as _client:
        conn, _ = listener.accept()
        with conn:
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert conn.proto == socket.IPPROTO_TCP


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--workers", "0"], "--workers"),
        (["--port", "70000"], "--port"),
        (["--max-log-bytes", "-1"], "--max-log-bytes"),
        (["--repo", "/nonexistent/dir"], "--repo"),
        (["--registry-ref=-x"], "argument --registry-ref: Value error, not a Git ref name"),
        (["--registry-ref", "a b"], "--registry-ref"),
    ],
)
def test_serve_rejects_bad_flags_in_one_line(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["serve", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("churnops serve: ") and words in err and "\n" not in err


def test_serve_reports_a_taken_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in Settings().to_env():
        monkeypatch.delenv(key, raising=False)  # run() exports its settings; restore afterwards
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        (tmp_path / "dvc.yaml").write_text("stages: {}\n")  # a project, so serve gets as far as the socket
        code = cli_main(["serve", "--port", str(port), "--repo", str(tmp_path)])
    assert code == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_settings_from_env_names_the_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNOPS_MAX_LOG_BYTES", "lots")
    with pytest.raises(ParamsError, match="CHURNOPS_MAX_LOG_BYTES"):
        Settings.from_env()
    monkeypatch.delenv("CHURNOPS_MAX_LOG_BYTES")
    monkeypatch.setenv("CHURNOPS_WORKERS", "3")
    monkeypatch.setenv("CHURNOPS_ADMIN_TOKEN", "")  # empty counts as unset
    s = Settings.from_env()
    assert s.workers == 3 and s.admin_token is None
    wanted = Settings(repo=Path("r"), registry_ref="origin/churnops/registry", admin_token="t", max_log_bytes=7)
    for key, value in wanted.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings.from_env() == wanted
    monkeypatch.setenv("CHURNOPS_REGISTRY_REF", "--all")  # git would read an option
    with pytest.raises(ParamsError, match="CHURNOPS_REGISTRY_REF: Value error, not a Git ref name"):
        Settings.from_env()


@pytest.mark.slow
@pytest.mark.e2e
def test_single_worker_reloads_on_sighup(tmp_path: Path, logreg_model: Trained, logreg_model_b: Trained) -> None:
    repo = served_repo(tmp_path / "repo", logreg_model)
    with running_server(repo, tmp_path / "p.jsonl", workers=1, token=TOKEN) as (url, proc):
        deploy(repo, logreg_model_b)
        os.kill(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/health", timeout=10).json()["model_version"] != logreg_model_b.md5:
            assert time.monotonic() < deadline, "SIGHUP did not reload the model"
            time.sleep(0.1)
        r = httpx.post(f"{url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert r.json()["workers"] is None and r.json()["changed"] is False
        assert proc.poll() is None
