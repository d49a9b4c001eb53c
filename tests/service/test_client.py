"""The reload client of ``churnops rollback --reload-url``, against httpx.MockTransport."""

from __future__ import annotations

import httpx
import pytest

from churnops.core.errors import ServiceReloadError
from churnops.service.client import check_target, reload_service

URL = "http://127.0.0.1:8000"
OLD, NEW = "0" * 31 + "1", "f" * 31 + "2"


def service(reload_status: int = 200, versions: list[str] | None = None, reload_body: object = None):
    """A fake service: answers /admin/reload, then /health with ``versions`` in turn."""
    calls: list[httpx.Request] = []
    versions = list(versions or [NEW])

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/admin/reload" and request.method == "POST":
            body = (
                reload_body
                if reload_body is not None
                else {"status": "reloaded", "model_version": NEW, "previous_version": OLD}
            )
            return httpx.Response(reload_status, json=body)
        if request.url.path == "/health" and request.method == "GET":
            version = versions.pop(0) if len(versions) > 1 else versions[0]
            return httpx.Response(200, json={"status": "ok", "model_version": version})
        return httpx.Response(404, json={"detail": "not found"})

    return httpx.MockTransport(handler), calls


def test_reload_sends_the_bearer_token_and_checks_health() -> None:
    transport, calls = service()
    result = reload_service(URL + "/", "tok", NEW, transport=transport)
    assert result["health_model_version"] == NEW
    assert result["reload"]["previous_version"] == OLD
    assert [(c.method, str(c.url)) for c in calls] == [("POST", f"{URL}/admin/reload"), ("GET", f"{URL}/health")]
    assert calls[0].headers["authorization"] == "Bearer tok"


def test_health_is_polled_until_every_worker_serves_the_model() -> None:
    transport, calls = service(versions=[OLD, OLD, NEW])
    reload_service(URL, "tok", NEW, transport=transport, health_interval=0)
    assert len(calls) == 4


def test_health_reporting_another_model_is_an_error() -> None:
    transport, _ = service(versions=[OLD])
    with pytest.raises(ServiceReloadError, match=f"/health reports model_version '{OLD}', expected {NEW}"):
        reload_service(URL, "tok", NEW, transport=transport, health_attempts=3, health_interval=0)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "refused the admin token \\(HTTP 401\\)"),
        (403, "refused the admin token \\(HTTP 403\\)"),
        (404, "not found \\(HTTP 404\\): is the service's admin token set\\?"),
        (500, "answered HTTP 500"),
    ],
)
def test_reload_refusals_are_one_clear_error(status: int, message: str) -> None:
    transport, _ = service(reload_status=status, reload_body={"detail": "no"})
    with pytest.raises(ServiceReloadError, match=message):
        reload_service(URL, "tok", NEW, transport=transport)


def test_non_json_answers_and_unreachable_services() -> None:
    def text_handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>proxy</html>")

    with pytest.raises(ServiceReloadError, match="/admin/reload did not answer JSON"):
        reload_service(URL, "tok", NEW, transport=httpx.MockTransport(text_handler))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ServiceReloadError, match=f"cannot reach {URL}: ConnectError"):
        reload_service(URL, "tok", NEW, transport=httpx.MockTransport(refuse))


def test_reload_arguments_are_checked_before_anything_changes() -> None:
    check_target(None, None)
    check_target(URL, "tok")
    with pytest.raises(ServiceReloadError, match=r"needs the service's admin token in \$CHURNOPS_ADMIN_TOKEN"):
        check_target(URL, None)
    with pytest.raises(ServiceReloadError, match="expected an http:// or https:// URL"):
        check_target("127.0.0.1:8000", "tok")


def test_the_json_body_is_the_service_contract() -> None:
    transport, _ = service(reload_body=["not", "an", "object"])
    with pytest.raises(ServiceReloadError, match="did not answer a JSON object"):
        reload_service(URL, "tok", NEW, transport=transport)
