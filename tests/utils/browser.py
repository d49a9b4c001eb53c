"""Headless Chromium for the tests that render a page: found once, required in CI, run with no network."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# The flags the machine's probe found necessary: without the background-networking ones
# Chromium keeps trying (and failing) to reach Google's hosts on a closed network.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def require_chromium() -> str:
    """Chromium's path; a test without it fails in CI (which installs it) and is skipped elsewhere."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: CI must run this test (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")
    return CHROMIUM


def render_offline(page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run Chromium on the file ``page`` with ``flags`` (``--dump-dom``, ``--screenshot=...``) and no network.

    ``unshare -n`` gives the browser a network namespace with no interfaces, when the machine
    allows it: a page that needs a CDN stays blank, as on an air-gapped machine.
    """
    cmd = [require_chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", *flags]
    cmd.append(page.as_uri())
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        cmd = ["unshare", "-n", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
