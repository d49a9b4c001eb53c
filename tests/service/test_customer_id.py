"""customer_id: optional on /predict and each /predict/batch item; validated, echoed, logged, never a feature."""

from __future__ import annotations

from typing import Any

import pytest

from churnops.core.logformat import Prediction, parse_line
from churnops.service.settings import Settings
from tests.utils.factories import GOOD_CUSTOMER
from tests.utils.service import TestClient

GOOD = GOOD_CUSTOMER


def test_customer_id_is_echoed_logged_and_not_a_feature(client: TestClient, settings: Settings) -> None:
    plain = client.post("/predict", json=GOOD).json()
    one = client.post("/predict", json={**GOOD, "customer_id": "c-1:a.b_C"}).json()
    items = [{**GOOD, "customer_id": "x1"}, GOOD, {**GOOD, "customer_id": "x3"}]
    batch = client.post("/predict/batch", json={"items": items}).json()
    # Stop the app now: its lifespan shutdown flushes the log (the fixture's own exit is then a no-op).
    client.__exit__(None, None, None)
    assert "customer_id" not in plain
    assert one["customer_id"] == "c-1:a.b_C"
    assert one["churn_probability"] == plain["churn_probability"]  # the id changes nothing
    assert [p.get("customer_id") for p in batch["predictions"]] == ["x1", None, "x3"]
    assert len({p["churn_probability"] for p in batch["predictions"]}) == 1
    lines = [parse_line(line) for line in settings.log_path.read_bytes().splitlines()]
    assert all(isinstance(x, Prediction) for x in lines)
    assert [x.customer_id for x in lines] == [None, "c-1:a.b_C", "x1", None, "x3"]  # type: ignore[union-attr]
    for x in lines:
        assert set(x.features) == set(GOOD)  # type: ignore[union-attr]
        assert ("customer_id" in x.raw) == (x.customer_id is not None)  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["", "x" * 65, "a b", "é", "a/b", 42, None, ["a"]])
def test_a_bad_customer_id_is_a_422_naming_the_field(client: TestClient, bad: Any) -> None:
    r = client.post("/predict", json={**GOOD, "customer_id": bad})
    assert r.status_code == 422, r.text
    assert r.json()["message"].startswith("customer_id:")
    items = [GOOD, GOOD, {**GOOD, "customer_id": bad}]
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["detail"]] == ["items.2.customer_id"]


def test_the_longest_allowed_customer_id_passes(client: TestClient) -> None:
    cid = "A-z0._:" * 9 + "x"
    assert len(cid) == 64
    r = client.post("/predict", json={**GOOD, "customer_id": cid})
    assert r.status_code == 200 and r.json()["customer_id"] == cid
