"""A real `churnops serve`: a fragment in its log never swallows a record, and the monitor reads back what it wrote."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from churnops.core.schema import FEATURES
from churnops.monitor.records import parse_line as monitor_parse
from churnops.monitor.tail import read_window
from churnops.pipeline.generate import traffic_records
from tests.utils.logread import read_log
from tests.utils.server import running_server
from tests.utils.service import Trained, served_repo


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
@pytest.mark.e2e
def test_live_service_never_glues_a_record_and_the_monitor_reads_every_value_back(
    tmp_path: Path, logreg_model: Trained
) -> None:
    repo = served_repo(tmp_path / "repo", logreg_model)
    log = tmp_path / "logs" / "predictions.jsonl"
    customers = [r["features"] for r in traffic_records(seed=5, rows=120)]
    sent: Counter[tuple] = Counter()  # the five features in schema order, then the returned probability

    def remember(features: dict, p: float) -> None:
        sent[(*(features[f.name] for f in FEATURES), p)] += 1

    with running_server(repo, log, workers=1) as (url, _proc), httpx.Client(base_url=url, timeout=30) as c:
        for f in customers[:40]:
            r = c.post("/predict", json=f)
            assert r.status_code == 200
            remember(f, r.json()["churn_probability"])
        deadline = time.monotonic() + 20
        while lines_in(log) < 40:  # the writer thread appends every 20 ms
            assert time.monotonic() < deadline, "the service did not write its log"
            time.sleep(0.02)
        with open(log, "ab") as fh:  # a process killed mid-line leaves this behind
            fh.write(b'{"ts":"2026-01-01T00:00:00Z","request_id":"torn","features":{"plan":"ba')
        for f in customers[40:80]:
            r = c.post("/predict", json=f)
            assert r.status_code == 200
            remember(f, r.json()["churn_probability"])
        r = c.post("/predict/batch", json={"items": customers[80:]})
        assert r.status_code == 200
        for f, pred in zip(customers[80:], r.json()["predictions"], strict=True):
            remember(f, pred["churn_probability"])
    # leaving running_server stopped the server with SIGINT: the worker flushed its log

    contents = read_log(log)
    assert len(contents.predictions) == 120  # the record after the fragment was not swallowed
    assert contents.skipped == {"invalid_json": 1}  # the fragment, alone on its line

    window = read_window(log, 1000, monitor_parse)
    assert Counter(e.reason for e in window.entries if e.reason) == {"invalid_json": 1}
    served = Counter((*e.values, e.probability) for e in window.entries if e.reason is None)
    assert served == sent  # every feature and probability, exactly as served
    assert sum(sent.values()) == 120
