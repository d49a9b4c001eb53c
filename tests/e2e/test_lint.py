"""CI runs `make test` only, so the linters run here too: ruff (lint, format) and mypy --strict.

Slow (mypy takes ~20 s cold); `make lint` runs the same three commands for a person.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.project import REPO_ROOT

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:  # pragma: no cover - make setup installs both
        pytest.fail(f"{name} is not installed: run `make setup`")
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_the_code_passes_the_linters(argv: list[str], tmp_path: Path) -> None:
    # mypy's cache goes to tmp_path: a test never writes into the workspace.
    extra = ["--cache-dir", str(tmp_path / "mypy")] if argv[0] == "mypy" else ["--no-cache"]
    proc = subprocess.run(
        [_tool(argv[0]), *argv[1:], *extra], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
