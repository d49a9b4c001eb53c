"""The service's own log, read by the monitor: a wave of requests the API refuses raises drift.

The app runs in-process (TestClient, no socket) on tmp_path; the log it writes is the
one the monitor then reads, so the writer and the reader cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

from churnops.core.trainstats import TrainStats
from churnops.monitor.check import check
from churnops.pipeline.generate import traffic_records
from churnops.service.app import create_app
from churnops.service.settings import Settings
from tests.utils.doubles import FixedClock
from tests.utils.factories import default_rules
from tests.utils.service import TestClient, fit, served_repo


def test_a_new_plan_refused_by_the_api_is_drift_naming_it(tmp_path: Path, train_stats: TrainStats) -> None:
    repo = served_repo(tmp_path / "repo", fit({"model": "logreg"}))
    log = tmp_path / "logs" / "predictions.jsonl"
    customers = [r["features"] for r in traffic_records(21, 140)]
    app = create_app(Settings(repo=repo, log_path=log), clock=FixedClock(1_700_000_000.25), handle_sighup=False)
    with TestClient(app) as client:
        assert client.post("/predict/batch", json={"items": customers[:100]}).status_code == 200
        for c in customers[100:]:
            assert client.post("/predict", json={**c, "plan": "enterprise"}).status_code == 422
    # leaving the client flushed the log: 100 predictions, then 40 rejection records

    report = check(log, train_stats, default_rules(), 140).report
    q = report["quality"]
    assert report["status"] == "drift" and report["flagged"][0] == "invalid_lines"
    assert q["reasons"] == {"rejected": {"lines": 40, "share": 0.2857}}
    assert q["unseen_categories"] == {"plan": {"enterprise": 40}}
    assert "'enterprise' 40" in report["message"]
    assert report["features"]["tenure_months"]["n"] == 100  # the served requests, all valid
