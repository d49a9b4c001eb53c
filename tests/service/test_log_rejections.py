"""A 422 on /predict or /predict/batch leaves one bounded rejection record in the prediction log."""

from __future__ import annotations

import json
from pathlib import Path

from churnops.core import logformat
from churnops.core.logformat import RejectedValue
from churnops.service.app import create_app
from churnops.service.settings import Settings
from tests.utils.doubles import FixedClock
from tests.utils.factories import GOOD_CUSTOMER as GOOD
from tests.utils.logread import read_log
from tests.utils.service import TestClient


def run_requests(settings: Settings, requests: list[tuple[str, bytes]]) -> list[int]:
    app = create_app(settings, clock=FixedClock(1_700_000_000.25), handle_sighup=False)
    with TestClient(app) as client:
        return [
            client.post(
                url, content=body, headers={"Content-Type": "application/json", "X-Request-ID": f"q{i}"}
            ).status_code
            for i, (url, body) in enumerate(requests)
        ]  # leaving the client flushes the log


def test_each_refused_request_is_one_record_naming_field_item_reason_and_value(settings: Settings) -> None:
    items = [GOOD, {**GOOD, "tenure_months": -5}, GOOD, {**GOOD, "plan": "enterprise"}]
    requests = [
        ("/predict/batch", json.dumps({"items": items}).encode()),
        ("/predict", json.dumps({**GOOD, "colour": "red"}).encode()),
        ("/predict", json.dumps({k: v for k, v in GOOD.items() if k != "region"}).encode()),
        ("/predict", b"[1, 2]"),
        ("/predict", json.dumps({**GOOD, "plan": 7}).encode()),
        ("/predict/batch", b'{"items": []}'),
        ("/predict", json.dumps(GOOD).encode()),  # accepted: a prediction, not a rejection
        ("/predict", b"{not json"),  # 400, not 422: not a rejection record
    ]
    assert run_requests(settings, requests) == [422, 422, 422, 422, 422, 422, 200, 400]
    log = read_log(settings.log_path)
    assert not log.skipped
    assert log.ids == ["q6"]
    got = {r.request_id: (r.endpoint, r.n_errors, r.errors) for r in log.rejections}
    assert got == {
        "q0": ("/predict/batch", 2, (
            RejectedValue("tenure_months", 1, logformat.OUT_OF_RANGE, -5, "items.1.tenure_months"),
            RejectedValue("plan", 3, logformat.UNKNOWN_CATEGORY, "enterprise", "items.3.plan"))),
        "q1": ("/predict", 1, (RejectedValue(None, None, logformat.UNKNOWN_KEY, "red", "colour"),)),
        "q2": ("/predict", 1, (RejectedValue("region", None, logformat.MISSING, None, "region"),)),
        "q3": ("/predict", 1, (RejectedValue(None, None, logformat.NOT_AN_OBJECT, "array", "(body)"),)),
        "q4": ("/predict", 1, (RejectedValue("plan", None, logformat.WRONG_TYPE, 7, "plan"),)),
        "q5": ("/predict/batch", 1, (RejectedValue(None, None, logformat.BATCH_SIZE, "array", "items"),)),
    }  # fmt: skip
    assert {r.ts for r in log.rejections} == {"2023-11-14T22:13:20.250000Z"}


def test_a_huge_refused_request_leaves_a_small_record(settings: Settings, tmp_path: Path) -> None:
    # /predict refuses bodies over 64 KiB with 413 before parsing: stay under it with many keys.
    body = {**GOOD, **{f"k{i:05d}": "v" for i in range(3_000)}}
    batch = {"items": [{**GOOD, "plan": "x" * 5000}] * 500}
    assert run_requests(settings, [("/predict", json.dumps(body).encode()),
                                   ("/predict/batch", json.dumps(batch).encode())]) == [422, 422]  # fmt: skip
    lines = settings.log_path.read_bytes().splitlines()
    assert len(lines) == 2
    assert all(len(line) < logformat.MAX_REJECTION_BYTES for line in lines)
    log = read_log(settings.log_path)
    assert [r.n_errors for r in log.rejections] == [3_000, 500]
    assert all(len(r.errors) == logformat.MAX_REJECTION_ERRORS for r in log.rejections)
    assert {len(e.value) for e in log.rejections[1].errors} == {logformat.MAX_VALUE_CHARS}
