"""The HTTP edge, in process: bounded error bodies, strict media types and encodings,
duplicate keys, integers as OpenAPI defines them, and /docs from local files."""

from __future__ import annotations

import gzip
import json
from typing import Any

import orjson
import pytest

from churnops.service.http_errors import MAX_ERRORS
from churnops.service.schemas import MAX_CUSTOMER_BYTES
from tests.utils.factories import GOOD_CUSTOMER as GOOD
from tests.utils.service import TestClient

JSON = {"Content-Type": "application/json"}

# --------------------------------------------------------------------------- bounded 422s


def test_330k_unknown_keys_get_a_small_422_that_counts_them(client: TestClient) -> None:
    body = {"items": [GOOD], **{f"k{i}": 0 for i in range(330_000)}}
    raw = orjson.dumps(body)
    assert len(raw) > 3_500_000  # the size the issue measured (3.85 MB gave a 40 MB answer)
    r = client.post("/predict/batch", content=raw, headers=JSON)
    assert r.status_code == 422
    assert len(r.content) < 4096, len(r.content)
    doc = r.json()
    assert doc["error_count"] == 330_000
    assert len(doc["detail"]) == MAX_ERRORS
    assert all(d["type"] == "extra_forbidden" for d in doc["detail"])
    assert doc["detail"][0]["loc"] == "k0"  # the first unknown keys, in body order
    assert doc["message"].endswith(f"and {330_000 - MAX_ERRORS} more problems")


def test_100k_unknown_keys_in_a_row_get_a_small_422(client: TestClient) -> None:
    row = {**GOOD, **{f"x{i}": i for i in range(100_000)}}
    r = client.post("/predict/batch", content=orjson.dumps({"items": [GOOD, row]}), headers=JSON)
    assert r.status_code == 422
    assert len(r.content) < 4096
    doc = r.json()
    assert doc["error_count"] == 100_000
    assert [d["loc"] for d in doc["detail"][:2]] == ["items.1.x0", "items.1.x1"]


def test_many_bad_rows_list_the_first_ones_and_count_all(client: TestClient) -> None:
    items = [{**GOOD, "plan": "gold", "tenure_months": -1}] * 5000  # two problems per row
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 422
    doc = r.json()
    assert doc["error_count"] == 10_000
    assert len(doc["detail"]) == MAX_ERRORS
    assert {d["loc"] for d in doc["detail"]} >= {"items.0.plan", "items.0.tenure_months", "items.9.plan"}
    assert len(r.content) < 4096


def test_the_cap_holds_when_a_number_overflows(client: TestClient) -> None:
    """1e999 parses in pydantic (as infinity, refused) but not in orjson: the trimmed path copes."""
    raw = b'{"tenure_months": 1e999, ' + b", ".join(b'"k%d": 1' % i for i in range(30)) + b"}"
    r = client.post("/predict", content=raw, headers=JSON)
    assert r.status_code == 422
    assert r.json()["error_count"] == 35  # 30 unknown keys, 4 missing fields, 1 bad integer
    assert {"loc": "tenure_months", "msg": "Input should be a valid integer", "type": "int_type"} in r.json()["detail"]


def test_a_huge_unknown_key_is_named_by_its_start(client: TestClient) -> None:
    r = client.post("/predict", json={**GOOD, "k" * 50_000: 1})
    assert r.status_code == 422
    assert len(r.content) < 1024
    assert r.json()["detail"][0]["loc"] == "k" * 61 + "..."


def test_a_few_errors_are_all_listed(client: TestClient) -> None:
    r = client.post("/predict", json={**GOOD, "plan": "gold", "extra": 1})
    assert r.status_code == 422
    assert r.json()["error_count"] == 2
    assert {d["loc"] for d in r.json()["detail"]} == {"plan", "extra"}


def test_a_predict_body_over_its_own_limit_is_413(client: TestClient) -> None:
    """/predict takes one customer (~120 bytes): past 64 KiB, nothing is parsed."""
    raw = orjson.dumps({**GOOD, **{f"k{i}": 0 for i in range(330_000)}})
    r = client.post("/predict", content=raw, headers=JSON)
    assert r.status_code == 413
    assert str(MAX_CUSTOMER_BYTES) in r.json()["detail"]
    padded = json.dumps(GOOD).encode() + b" " * (MAX_CUSTOMER_BYTES - 200)  # whitespace is fine under the limit
    assert client.post("/predict", content=padded, headers=JSON).status_code == 200


# --------------------------------------------------------------------------- media type and encoding


def test_no_content_type_is_415(client: TestClient) -> None:
    r = client.post("/predict", content=json.dumps(GOOD))
    assert "content-type" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 415
    assert "got none" in r.json()["detail"]
    assert client.post("/predict/batch", content=json.dumps({"items": [GOOD]})).status_code == 415


def test_a_gzip_body_is_decoded(client: TestClient) -> None:
    plain = client.post("/predict/batch", json={"items": [GOOD] * 3}).json()
    r = client.post(
        "/predict/batch",
        content=gzip.compress(json.dumps({"items": [GOOD] * 3}).encode()),
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == plain["predictions"]


def test_a_gzip_bomb_stops_at_the_limit(client: TestClient) -> None:
    bomb = gzip.compress(b" " * (5 * 1024 * 1024))  # ~5 KB on the wire, 5 MB decoded
    assert len(bomb) < 10_000
    r = client.post("/predict/batch", content=bomb, headers={**JSON, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert "decompressed" in r.json()["detail"]
    small = gzip.compress(json.dumps(GOOD).encode() + b" " * (MAX_CUSTOMER_BYTES + 1))
    assert client.post("/predict", content=small, headers={**JSON, "Content-Encoding": "gzip"}).status_code == 413


@pytest.mark.parametrize(
    ("content", "encoding", "status"),
    [
        (b"not gzip at all", "gzip", 400),
        (gzip.compress(json.dumps(GOOD).encode())[:-12], "gzip", 400),  # truncated stream
        (json.dumps(GOOD).encode(), "br", 415),
        (json.dumps(GOOD).encode(), "deflate", 415),
        (json.dumps(GOOD).encode(), "gzip, gzip", 415),
        (json.dumps(GOOD).encode(), "identity", 200),
    ],
    ids=["not-gzip", "truncated", "br", "deflate", "stacked", "identity"],
)
def test_content_encodings(client: TestClient, content: bytes, encoding: str, status: int) -> None:
    r = client.post("/predict", content=content, headers={**JSON, "Content-Encoding": encoding})
    assert r.status_code == status, r.text


# --------------------------------------------------------------------------- duplicate keys


@pytest.mark.parametrize(
    ("path", "raw", "loc"),
    [
        (
            "/predict",
            b'{"tenure_months":3,"num_complaints":4,"avg_session_minutes":8.5,"plan":"gold","plan":"basic",'
            b'"region":"south"}',
            "plan",
        ),
        (
            "/predict/batch",
            b'{"items":[' + orjson.dumps(GOOD) + b',{"tenure_months":3,"tenure_months":3,"num_complaints":4,'
            b'"avg_session_minutes":8.5,"plan":"basic","region":"south"}]}',
            "items.1.tenure_months",
        ),
        ("/predict/batch", b'{"items":[' + orjson.dumps(GOOD) + b'],"items":[' + orjson.dumps(GOOD) + b"]}", "items"),
    ],
    ids=["predict", "batch-row", "batch-top"],
)
def test_a_repeated_key_is_a_422_naming_it(client: TestClient, path: str, raw: bytes, loc: str) -> None:
    r = client.post(path, content=raw, headers=JSON)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail == [{"loc": loc, "msg": detail[0]["msg"], "type": "duplicate_key"}]
    assert "more than once" in detail[0]["msg"]


# --------------------------------------------------------------------------- integers, as OpenAPI says


def test_an_integral_float_is_an_integer(client: TestClient) -> None:
    """OpenAPI's ``type: integer`` (JSON Schema) admits 92.0; so does the validator."""
    as_int = client.post("/predict", json={**GOOD, "tenure_months": 92}).json()
    raw = b'{"tenure_months":92.0,"num_complaints":4.0,"avg_session_minutes":8.5,"plan":"basic","region":"south"}'
    as_float = client.post("/predict", content=raw, headers=JSON)
    assert as_float.status_code == 200, as_float.text
    reference = client.post("/predict", json={**GOOD, "tenure_months": 92, "num_complaints": 4}).json()
    assert as_float.json()["churn_probability"] == reference["churn_probability"] == as_int["churn_probability"]
    spec = client.get("/openapi.json").json()["components"]["schemas"]["Customer"]["properties"]
    assert spec["tenure_months"]["type"] == "integer" and spec["tenure_months"]["maximum"] == 240


@pytest.mark.parametrize("value", ["92.5", "2.6e-42", '"92"', "true", "1e999", "240.0000001"])
def test_a_non_integral_value_is_refused_for_an_integer(client: TestClient, value: str) -> None:
    raw = orjson.dumps(GOOD).replace(b'"tenure_months":3', b'"tenure_months":' + value.encode())
    r = client.post("/predict", content=raw, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == "tenure_months"


def test_an_integral_float_out_of_range_is_a_range_error(client: TestClient) -> None:
    r = client.post("/predict", json={**GOOD, "tenure_months": 241.0})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "less_than_equal"


# --------------------------------------------------------------------------- /docs offline


def test_docs_load_swagger_ui_from_this_server_only(client: TestClient) -> None:
    html = client.get("/docs").text
    assets = [part.split('"')[1] for part in html.split("src=")[1:]] + [
        part.split('"')[1] for part in html.split("href=")[1:]
    ]
    assert assets, html
    assert all(a.startswith("/") for a in assets), assets  # nothing from a CDN
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.content) > 1000
    assert "/openapi.json" in html
    assert client.get("/redoc").status_code == 404  # ReDoc would need its CDN script: off


def test_error_bodies_match_the_documented_schema(client: TestClient) -> None:
    spec: dict[str, Any] = client.get("/openapi.json").json()
    fields = spec["components"]["schemas"]["ValidationErrorResponse"]["required"]
    body = client.post("/predict", json={**GOOD, "plan": "gold"}).json()
    assert set(body) == set(fields) == {"detail", "message", "error_count"}
