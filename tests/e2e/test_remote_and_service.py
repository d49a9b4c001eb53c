"""A fresh clone serves prod from the DVC remote; a running service is told to reload by a deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.project import run
from tests.utils.server import health_version, running_server
from tests.utils.workflow import History, cache_object, churnops, prod

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "deploy-test-token"


def test_a_fresh_clone_with_an_empty_cache_serves_prod_from_the_remote(history: History, tmp_path: Path) -> None:
    origin = history.root
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "-d", "storage", str(remote)], origin)
    run(["git", "commit", "-q", "-am", "dvc: default remote"], origin)
    run(["dvc", "push"], origin)  # HEAD's outputs: v2's model, not v1's
    remote_object = remote / "files" / "md5" / history.v1[:2] / history.v1[2:]
    assert not remote_object.exists()
    assert churnops(origin, "rollback", "v1").returncode == 0  # prod: v1, HEAD builds v2
    assert remote_object.is_file()  # deploying pushed prod's model, for the machines that serve

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / ".dvc" / "cache").exists() and not (clone / "models" / "model.json").exists()
    with running_server(clone, tmp_path / "service" / "predictions.jsonl", token=TOKEN) as (url, _):
        assert health_version(url) == history.v1  # fetched from the remote by its md5, verified
    assert cache_object(clone, history.v1).is_file()
    assert not (clone / "models" / "model.json").exists()  # the work tree was never involved

    # Without the remote, a clone cannot serve: /health says, in one line, what to run.
    bare = tmp_path / "bare"
    run(["git", "clone", "-q", str(origin), str(bare)], tmp_path)
    run(["dvc", "remote", "remove", "storage"], bare)
    with running_server(bare, tmp_path / "bare-service" / "predictions.jsonl", expect_health=503) as (url, _):
        reason = health_reason(url)
        assert f"model {history.v1[:12]}" in reason and "no default DVC remote is configured" in reason
        assert "dvc remote add -d" in reason  # what to run
        assert "\n" not in reason and str(bare) not in reason


def health_reason(url: str) -> str:
    import httpx

    body = httpx.get(f"{url}/health", timeout=10).json()
    return str(body["reason"])


def test_a_deployment_reloads_a_running_service(history: History, tmp_path: Path) -> None:
    p = history.root
    with running_server(p, tmp_path / "service" / "predictions.jsonl", token=TOKEN) as (url, _):
        assert health_version(url) == history.v2

        proc = churnops(p, "rollback", "v1", "--reload-url", url, extra_env={"CHURNOPS_ADMIN_TOKEN": TOKEN})
        assert proc.returncode == 0, proc.stderr
        assert f"service reloaded: /health reports model_version {history.v1}" in proc.stdout
        assert health_version(url) == history.v1

        # A wrong token: the registry commit stands, the command says the reload failed and exits 1.
        proc = churnops(p, "rollback", "v2", "--reload-url", url, extra_env={"CHURNOPS_ADMIN_TOKEN": "wrong"})
        assert proc.returncode == 1
        assert "the registry commit" in proc.stderr and "but the service did not reload" in proc.stderr
        assert "HTTP 403" in proc.stderr
        assert prod(p) == history.v2
        assert health_version(url) == history.v1
