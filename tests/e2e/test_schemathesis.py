"""Schemathesis as a real client of a live `churnops serve`: every check, zero failures.

It reads the server's own /openapi.json and sends what the schema allows (each must be
accepted), what it forbids (each must be a 4xx), and checks every response against the
documented status codes, content types and bodies. Bounded: a fixed seed and at most
100 examples per operation and phase (~400 requests, a few seconds).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.utils.project import VENV_BIN, env
from tests.utils.server import running_server
from tests.utils.service import TOKEN, fit, served_repo


@pytest.mark.slow
@pytest.mark.e2e
def test_schemathesis_finds_no_failure(tmp_path: Path) -> None:
    repo = served_repo(tmp_path / "repo", fit({"model": "logreg"}))
    with running_server(repo, tmp_path / "logs" / "predictions.jsonl", workers=2, token=TOKEN) as (url, _proc):
        cmd = [
            str(VENV_BIN / "schemathesis"), "run", f"{url}/openapi.json",
            "--checks", "all", "--max-examples", "100", "--seed", "2", "--no-color",
            "--header", f"Authorization: Bearer {TOKEN}",  # so /admin/reload is exercised, not just its 404
            "--request-timeout", "30",
            "--report-dir", str(tmp_path / "schemathesis"),
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, cwd=tmp_path, env={**env(), "SCHEMATHESIS_HOOKS": ""}, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert " passed" in out and "failure" not in out.split("SUMMARY")[-1].lower(), out[-3000:]
