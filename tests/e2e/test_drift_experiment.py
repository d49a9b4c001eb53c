"""The monitor stage inside DVC: `dvc exp run -S generate.traffic.shift...` shows drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.utils.project import run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_shift_param_shows_drift_in_dvc_exp(built_project: Path, tmp_path: Path) -> None:
    base = json.loads((built_project / "metrics" / "drift.json").read_text())
    assert base["invalid_fraction"] == 0.0
    details = json.loads((built_project / "metrics" / "details" / "monitor.json").read_text())
    assert details["last_n"] == details["lines"] == 200 and abs(details["features"]["tenure_months"]["z"]) < 5

    run(["dvc", "exp", "run", "-S", "generate.traffic.shift.tenure_months=-24"], built_project, timeout=300)
    report = json.loads((built_project / "metrics" / "drift.json").read_text())
    assert report["status"] == "drift" and "tenure_months" in report["flagged"].split()
    details = json.loads((built_project / "metrics" / "details" / "monitor.json").read_text())
    assert details["features"]["tenure_months"]["z"] < -5

    shown = run(["dvc", "exp", "show", "--json"], built_project).stdout
    assert '"status": "drift"' in shown
    metrics = json.loads(shown)[0]["data"]["metrics"]
    assert metrics["metrics/drift.json"]["data"].keys() == {"status", "flagged", "invalid_fraction"}
    assert "metrics/details/monitor.json" not in metrics  # the breakdowns are not a DVC metric

    # Plots render (custom template found, every feature file valid).
    html = tmp_path / "plots"
    run(["dvc", "plots", "show", "-o", str(html)], built_project)
    page = (html / "index.html").read_text()
    for feature in ("tenure_months", "num_complaints", "avg_session_minutes", "plan", "region"):
        assert f"{feature}: training vs recent share per bin" in page
    assert "recent, flagged" in page and "drift (z, psi)" in page  # the plots say what was flagged
