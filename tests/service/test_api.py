"""The HTTP contract: endpoints, request ids, and every class of client mistake (never a 5xx)."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from churnops.core.schema import FEATURES
from churnops.pipeline.train import model_input
from churnops.service.app import create_app
from churnops.service.loader import LoadedModel
from churnops.service.middleware import request_id_from
from churnops.service.settings import Settings
from tests.utils.factories import GOOD_CUSTOMER, labelled_customers, records
from tests.utils.service import TestClient, Trained

GOOD = GOOD_CUSTOMER


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


def test_health_reports_the_served_model(client: TestClient, logreg_model) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["model_version"] == logreg_model.md5
    assert body["model_kind"] == "logreg"
    assert body["threshold"] == 0.5
    assert body["params"] == {"train.model": "logreg", "train.threshold": 0.5}
    assert body["metrics"] == {"f1": 0.8, "roc_auc": 0.9}
    assert body["registry_ref"] == "churnops/registry"
    assert len(body["built_by_commit"]) == len(body["registry_commit"]) == 40


def test_health_shows_no_absolute_log_path(tmp_path: Path, served_model: LoadedModel) -> None:
    """/health needs no token: the log's path is relative to the served repo, else only its name."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for log, shown in [(repo / "logs" / "predictions.jsonl", "logs/predictions.jsonl"),
                       (tmp_path / "elsewhere" / "predictions.jsonl", "…/predictions.jsonl")]:  # fmt: skip
        settings = Settings(repo=repo, log_path=log)
        app = create_app(settings, loader=SimpleNamespace(load=lambda: served_model), handle_sighup=False)
        with TestClient(app) as c:
            stats = c.get("/health").json()["log"]
        assert stats["path"] == shown
        assert str(tmp_path) not in json.dumps(stats)


def test_predict_returns_probability_decision_and_version(client: TestClient, logreg_model) -> None:
    from churnops.pipeline.scorer import Scorer

    r = client.post("/predict", json=GOOD)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"request_id", "model_version", "churn_probability", "churn"}
    expected = Scorer.from_bytes(logreg_model.data).predict_proba_one(GOOD)
    assert body["churn_probability"] == pytest.approx(expected, abs=1e-12)
    assert body["churn"] is (expected >= 0.5)
    assert body["model_version"] == logreg_model.md5
    assert r.headers["x-request-id"] == body["request_id"]
    assert uuid.UUID(body["request_id"]).version == 4


def test_predict_accepts_an_integer_for_a_float_feature(client: TestClient) -> None:
    assert client.post("/predict", json={**GOOD, "avg_session_minutes": 20}).status_code == 200


def test_batch_keeps_input_order_and_matches_single_predictions(client: TestClient) -> None:
    items = [
        {**GOOD, "tenure_months": t, "plan": plan}
        for t, plan in [(1, "basic"), (200, "premium"), (30, "standard"), (0, "basic")]
    ]
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 200
    body = r.json()
    assert body["request_id"] == r.headers["x-request-id"]
    singles = [client.post("/predict", json=item).json() for item in items]
    assert [p["churn_probability"] for p in body["predictions"]] == pytest.approx(
        [s["churn_probability"] for s in singles], abs=1e-12
    )
    assert [p["churn"] for p in body["predictions"]] == [s["churn"] for s in singles]


def test_batch_accepts_the_maximum_size(client: TestClient) -> None:
    r = client.post("/predict/batch", json={"items": [GOOD] * 10_000})
    assert r.status_code == 200
    assert len(r.json()["predictions"]) == 10_000


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("trace.id:42_A-b", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("semi;colon", False),
        ("ünïcode", False),
        ("", False),
    ],
)
def test_request_id_propagation(client: TestClient, given: str, kept: bool) -> None:
    headers = {"X-Request-ID": given.encode("utf-8")} if given else {}
    r = client.post("/predict", json=GOOD, headers=headers)  # type: ignore[arg-type]
    assert r.status_code == 200
    rid = r.json()["request_id"]
    assert r.headers["x-request-id"] == rid
    if kept:
        assert rid == given
    else:
        assert rid != given
        assert uuid.UUID(rid).version == 4


def test_request_id_is_echoed_on_errors_too(client: TestClient) -> None:
    r = client.post("/predict", json=without("plan"), headers={"X-Request-ID": "err-1"})
    assert r.status_code == 422
    assert r.headers["x-request-id"] == "err-1"


def test_request_id_from_rejects_non_ascii_bytes() -> None:
    assert request_id_from(b"\xff\xfe") != "\xff\xfe"


# --------------------------------------------------------------------------- bad inputs

BAD_SINGLE = [
    pytest.param(without("plan"), "plan", "missing", id="missing-field"),
    pytest.param({**GOOD, "coupon": "X"}, "coupon", "extra_forbidden", id="extra-field"),
    pytest.param({**GOOD, "tenure_months": "12"}, "tenure_months", "int_type", id="string-for-int"),
    pytest.param({**GOOD, "tenure_months": 12.5}, "tenure_months", "int_type", id="fraction-for-int"),
    pytest.param({**GOOD, "tenure_months": True}, "tenure_months", "int_type", id="bool-for-int"),
    pytest.param({**GOOD, "avg_session_minutes": "8.5"}, "avg_session_minutes", "float_type", id="string-for-float"),
    pytest.param({**GOOD, "avg_session_minutes": None}, "avg_session_minutes", "float_type", id="null"),
    pytest.param({**GOOD, "tenure_months": -1}, "tenure_months", "greater_than_equal", id="below-range"),
    pytest.param({**GOOD, "num_complaints": 101}, "num_complaints", "less_than_equal", id="above-range"),
    pytest.param({**GOOD, "avg_session_minutes": 1e308 * 10}, "avg_session_minutes", "finite_number", id="infinity"),
    pytest.param({**GOOD, "plan": "gold"}, "plan", "literal_error", id="unknown-category"),
    pytest.param({**GOOD, "plan": "Basic"}, "plan", "literal_error", id="category-wrong-case"),
    pytest.param({**GOOD, "region": 3}, "region", "literal_error", id="number-for-category"),
    pytest.param([GOOD], "(body)", "dict_type", id="array-not-object"),
    pytest.param("customer", "(body)", "dict_type", id="string-not-object"),
]


@pytest.mark.parametrize(("body", "loc", "kind"), BAD_SINGLE)
def test_predict_rejects_bad_fields_with_422_naming_them(client: TestClient, body: Any, loc: str, kind: str) -> None:
    content = json.dumps(body, allow_nan=True).replace("Infinity", "1e999").encode()
    r = client.post("/predict", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(d["loc"] == loc and d["type"] == kind for d in detail), detail
    assert r.json()["message"].startswith(loc)


BAD_BATCH = [
    pytest.param({"items": []}, "items", "too_short", id="empty"),
    pytest.param({"items": [GOOD] * 10_001}, "items", "too_long", id="oversized"),
    pytest.param({}, "items", "missing", id="no-items"),
    pytest.param({"items": [GOOD], "extra": 1}, "extra", "extra_forbidden", id="extra-top-level"),
    pytest.param({"items": GOOD}, "items", "list_type", id="items-not-a-list"),
    pytest.param(
        {"items": [GOOD, GOOD, GOOD, {**GOOD, "plan": "gold"}]}, "items.3.plan", "literal_error", id="row3-plan"
    ),
    pytest.param({"items": [GOOD, without("region")]}, "items.1.region", "missing", id="row1-missing"),
    pytest.param({"items": [GOOD, {**GOOD, "x": 0}]}, "items.1.x", "extra_forbidden", id="row1-extra"),
]


@pytest.mark.parametrize(("body", "loc", "kind"), BAD_BATCH)
def test_batch_rejects_bad_input_with_422_naming_the_field(client: TestClient, body: Any, loc: str, kind: str) -> None:
    r = client.post("/predict/batch", json=body)
    assert r.status_code == 422, r.text
    assert any(d["loc"] == loc and d["type"] == kind for d in r.json()["detail"]), r.json()


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b'{"tenure_months": 3,}', b"nope", b"\xff\xfe\x00", b'{"a": NaN}', b"[" * 60_000],
    ids=["empty", "truncated", "trailing-comma", "not-json", "binary", "nan", "deep-nesting"],
)
@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_malformed_json_is_a_400_with_a_clear_message(client: TestClient, path: str, content: bytes) -> None:
    r = client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    if r.status_code == 400:
        assert r.json()["detail"].startswith("malformed JSON")


def test_wrong_content_type_is_415(client: TestClient) -> None:
    r = client.post("/predict", content=json.dumps(GOOD), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert "application/json" in r.json()["detail"]


def test_json_content_type_with_charset_is_fine(client: TestClient) -> None:
    r = client.post("/predict", content=json.dumps(GOOD), headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200


def test_body_over_the_limit_by_content_length_is_413(client: TestClient) -> None:
    r = client.post(
        "/predict/batch", content=b" " * (4 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(100):
            yield b" " * 65536

    r = client.post("/predict/batch", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_wrong_method_and_unknown_path_are_4xx(client: TestClient) -> None:
    assert client.get("/predict").status_code == 405
    assert client.get("/nope").status_code == 404


def test_fuzzed_bodies_never_produce_a_5xx(client: TestClient) -> None:
    rng = random.Random(1234)
    atoms: list[Any] = [None, True, 0, -1, 1.5, 1e300, "", "basic", "north", [], {}, "x" * 300]
    names = [f.name for f in FEATURES] + ["items", "extra"]
    for _ in range(300):
        body: Any = {name: rng.choice(atoms) for name in rng.sample(names, rng.randint(0, len(names)))}
        if rng.random() < 0.3:
            body = {"items": [body] * rng.randint(0, 3)}
        raw = json.dumps(body).encode()
        if rng.random() < 0.2:  # corrupt some bytes too
            pos = rng.randrange(len(raw))
            raw = raw[:pos] + bytes([rng.randrange(256)]) + raw[pos + 1 :]
        for path in ("/predict", "/predict/batch"):
            r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
            assert r.status_code < 500, (path, raw, r.text)


def test_openapi_documents_the_request_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    predict_body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert predict_body == {"$ref": "#/components/schemas/Customer"}
    customer = spec["components"]["schemas"]["Customer"]
    assert customer["additionalProperties"] is False
    assert customer["properties"]["plan"]["enum"] == ["basic", "standard", "premium"]
    batch = spec["components"]["schemas"]["BatchRequest"]
    assert batch["properties"]["items"]["maxItems"] == 10_000
    assert client.get("/docs").status_code == 200


def test_the_service_serves_the_scorer_probabilities(client, logreg_model: Trained) -> None:
    test = labelled_customers(50, seed=7)
    rows = records(test)
    expected = logreg_model.result.pipeline.predict_proba(model_input(test))[:, 1]
    got = [p["churn_probability"] for p in client.post("/predict/batch", json={"items": rows}).json()["predictions"]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    single = client.post("/predict", json=rows[0]).json()["churn_probability"]
    assert single == pytest.approx(expected[0], abs=1e-6)
