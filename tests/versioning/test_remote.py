"""A DVC remote that fails, every way we know: one line naming the remote and the cause, nothing changed.

The rollback target (v1) is in no cache, so its model must come from the remote; the registry
(prod: v2) and the work tree must be exactly as before each failure.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.utils.project import run
from tests.utils.workflow import History, churnops, empty_cache, prod, registry_log, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def use_remote(project: Path, url: str) -> None:
    config = run(["dvc", "remote", "list"], project).stdout
    if "storage" in config:
        run(["dvc", "remote", "modify", "storage", "url", url], project)
    else:
        run(["dvc", "remote", "add", "-d", "storage", url], project)
    run(["git", "commit", "-q", "-am", f"dvc: remote {url}"], project)


def test_every_remote_failure_is_one_line_and_changes_nothing(history: History, tmp_path: Path) -> None:
    p = history.root
    empty_cache(p)
    (tmp_path / "a-file").write_text("not a directory\n")
    port = closed_port()
    cases = {
        str(tmp_path / "a-file"): "not a directory (the path is a file)",
        str(tmp_path / "missing"): "no such directory",
        f"http://127.0.0.1:{port}/remote": "connection refused",
        # Without the dvc-ssh plugin DVC says so; with it, the port refuses. Either way one line.
        f"ssh://127.0.0.1:{port}/remote": "",
    }
    for url, cause in cases.items():
        use_remote(p, url)
        before = snapshot(p), registry_log(p)
        proc = churnops(p, "rollback", "v1")
        assert proc.returncode == 1, (url, proc.stderr)
        error = proc.stderr.strip()
        assert "Traceback" not in error and "\n" not in error, proc.stderr
        assert error.startswith(f"churnops rollback: DVC remote 'storage' ({url}): {cause}"), error
        assert error.endswith("; nothing was changed"), error
        assert (snapshot(p), registry_log(p)) == before, url
        assert prod(p) == history.v2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_an_unreadable_remote_is_one_line(history: History, tmp_path: Path) -> None:
    p = history.root
    empty_cache(p)
    remote = tmp_path / "locked"
    remote.mkdir(mode=0o000)
    use_remote(p, str(remote))
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(f"DVC remote 'storage' ({remote}): permission denied; nothing was changed")


def test_rebuild_falls_back_to_rebuilding_when_the_remote_fails(history: History) -> None:
    p = history.root
    empty_cache(p)
    use_remote(p, f"http://127.0.0.1:{closed_port()}/remote")
    proc = churnops(p, "rollback", "v1", "--rebuild")
    assert proc.returncode == 0, proc.stderr
    assert "connection refused; rebuilding it from " in proc.stderr
    assert "rebuilding v1" in proc.stderr
    assert prod(p) == history.v1
    assert run(["git", "status", "--porcelain"], p).stdout == ""


def test_a_remote_that_fails_to_take_prods_model_is_a_warning_not_a_refusal(history: History) -> None:
    """In an incident the model is in the local cache: the rollback goes ahead, and says what it could not push."""
    p = history.root
    use_remote(p, f"http://127.0.0.1:{closed_port()}/remote")
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 0, proc.stderr
    assert prod(p) == history.v1
    warning = proc.stderr.strip()
    assert "\n" not in warning and warning.startswith("warning: DVC remote 'storage' (http://127.0.0.1:")
    assert f"connection refused: model {history.v1[:12]} is not on the remote" in warning
