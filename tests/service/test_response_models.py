"""Every 2xx body of every endpoint is what its declared response model says.

The endpoints return bytes they build themselves (no run-time response validation: it
cost more than a prediction), so this test is what keeps /docs honest. The endpoints,
their bodies and their models are read from the app (its OpenAPI document and its
routes), never listed here: a new endpoint is covered as soon as it is registered, and
fails here until its request body declares an example this test can send.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from churnops.service.app import create_app
from churnops.service.settings import Settings
from tests.utils.service import TOKEN, TestClient


def _operations(app: Any) -> list[tuple[str, str, type[BaseModel], dict[str, Any]]]:
    """(method, path, response model, OpenAPI operation) of every documented endpoint."""
    spec = app.openapi()
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in sorted(route.methods):
                out.append((method, route.path, route.response_model, spec["paths"][route.path][method.lower()]))
    return out


def _example_body(spec: dict[str, Any], operation: dict[str, Any]) -> Any:
    """The first example of the operation's request body schema (None when it takes no body)."""
    if "requestBody" not in operation:
        return None
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    examples = schema.get("examples")
    assert examples, f"{operation['operationId']}: the request body declares no example to send"
    return examples[0]


def test_every_2xx_body_matches_its_response_model(settings: Settings) -> None:
    """With the service's one log writer (the background one), whose stats /health embeds."""
    app = create_app(settings, handle_sighup=False)
    spec = app.openapi()
    operations = _operations(app)
    assert {path for _, path, _, _ in operations} >= {"/health", "/predict", "/predict/batch", "/admin/reload"}
    with TestClient(app) as client:
        for method, path, model, operation in operations:
            assert model is not None and issubclass(model, BaseModel), f"{method} {path} declares no response model"
            headers = {"Authorization": f"Bearer {TOKEN}"} if operation.get("security") else {}
            body = _example_body(spec, operation)
            r = client.request(method, path, json=body, headers=headers)
            assert 200 <= r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
            assert str(r.status_code) in operation["responses"], f"{method} {path}: {r.status_code} is undocumented"
            try:
                model.model_validate_json(r.content, strict=True)
            except ValidationError as err:
                pytest.fail(f"{method} {path} answered a body its model {model.__name__} does not describe:\n{err}")


def test_the_models_refuse_an_undocumented_field(client: TestClient) -> None:
    """The check above can fail: a body with a field the model lacks is refused."""
    app: Any = client.app
    model = next(m for _, path, m, _ in _operations(app) if path == "/health")
    body = client.get("/health").json()
    model.model_validate(body, strict=True)
    with pytest.raises(ValidationError, match="extra"):
        model.model_validate({**body, "undocumented": 1}, strict=True)
