"""`churnops simulate` against a stub service (httpx.MockTransport): what it sends and reports."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from churnops.cli import main
from churnops.commands import simulate as sim
from churnops.commands.common import exit_code
from churnops.core.errors import ParamsError, ServiceError, UnreachableError
from churnops.pipeline.generate import traffic_records


class StubService:
    """Answers like churnops' service and remembers every request."""

    def __init__(self, status: int = 200, body: bytes | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.body = body

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200 or self.body is not None:
            return httpx.Response(self.status, content=self.body or b'{"message": "bad"}')
        payload = json.loads(request.content)
        if request.url.path == "/predict":
            return httpx.Response(
                200, json={"request_id": "r", "model_version": "v1", "churn_probability": 0.25, "churn": False}
            )
        items = payload["items"]
        preds = [{"churn_probability": 0.75, "churn": True} for _ in items]
        return httpx.Response(200, json={"request_id": "r", "model_version": "v1", "predictions": preds})

    def items(self) -> list[dict]:
        out: list[dict] = []
        for r in self.requests:
            body = json.loads(r.content)
            out.extend(body.get("items", [body]))
        return out


def client(stub: StubService) -> httpx.Client:
    return httpx.Client(base_url="http://127.0.0.1:8000", transport=httpx.MockTransport(stub))


def customers(n: int, **kwargs) -> list[dict]:
    return [r["features"] for r in traffic_records(3, n, **kwargs)]


def test_batches_go_to_predict_batch_in_chunks() -> None:
    stub = StubService()
    summary = sim.send(client(stub), customers(25), batch=10)
    assert [r.url.path for r in stub.requests] == ["/predict/batch"] * 3
    assert [len(json.loads(r.content)["items"]) for r in stub.requests] == [10, 10, 5]
    assert stub.items() == customers(25)
    assert (summary.sent, summary.requests, summary.churn, summary.model_versions) == (25, 3, 25, {"v1"})
    assert summary.mean_probability == pytest.approx(0.75)


def test_batch_of_one_uses_predict() -> None:
    stub = StubService()
    summary = sim.send(client(stub), customers(4), batch=1)
    assert [r.url.path for r in stub.requests] == ["/predict"] * 4
    assert summary.sent == 4 and summary.mean_probability == pytest.approx(0.25)
    assert set(stub.items()[0]) == {"tenure_months", "num_complaints", "avg_session_minutes", "plan", "region"}


def test_shift_and_mix_change_what_is_sent() -> None:
    base, shifted = StubService(), StubService()
    sim.send(client(base), customers(2000), batch=500)
    sim.send(client(shifted), customers(2000, shift={"tenure_months": -24}, mix={"plan": {"premium": 1.0}}), batch=500)
    mean = lambda s: np.mean([c["tenure_months"] for c in s.items()])  # noqa: E731
    assert mean(shifted) < mean(base) - 10
    assert {c["plan"] for c in shifted.items()} == {"premium"}


def test_service_error_is_one_line_with_status() -> None:
    with pytest.raises(ServiceError, match=r"POST /predict/batch -> HTTP 422: .*bad") as info:
        sim.send(client(StubService(status=422)), customers(3), batch=10)
    assert exit_code(info.value) == 1


def test_unexpected_body_is_a_service_error() -> None:
    with pytest.raises(ServiceError, match="unexpected response"):
        sim.send(client(StubService(body=b'{"predictions": []}')), customers(3), batch=10)


def test_unreachable_service_exits_2() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    c = httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(refuse))
    with pytest.raises(UnreachableError, match=r"cannot reach the service at http://127\.0\.0\.1:9") as info:
        sim.send(c, customers(3), batch=10)
    assert exit_code(info.value) == 2


def test_parse_shift_and_mix() -> None:
    assert sim.parse_shift(["tenure_months=-24", "num_complaints=1.5"]) == {
        "tenure_months": -24.0,
        "num_complaints": 1.5,
    }
    assert sim.parse_mix(["plan=basic:0.5,premium:0.1"]) == {"plan": {"basic": 0.5, "premium": 0.1}}
    with pytest.raises(ParamsError, match="--shift 'tenure_months': expected FEATURE=NUMBER"):
        sim.parse_shift(["tenure_months"])
    with pytest.raises(ParamsError, match="--mix 'plan=basic': expected"):
        sim.parse_mix(["plan=basic"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rows", "0"], "--rows: 0 customers: nothing to send"),
        (["--rows", "10000001"], "--rows: Input should be less than or equal to 10000000"),
        (["--rows", "5", "--batch", "20000"], "--batch: Input should be less than or equal to 10000"),
        (["--rows", "5", "--shift", "plan=1"], "'plan' is not a numeric feature"),
        (["--rows", "5", "--mix", "plan=gold:1"], "plan: unknown categories ['gold']"),
        (["--rows", "5", "--seed", "-1"], "--seed: Input should be greater than or equal to 0"),
        (["--rows", "5", "--timeout", "0"], "--timeout: Input should be greater than 0"),
        (["--rows", "5", "--timeout", "nan"], "--timeout: Input should be a finite number"),
        (["--rows", "five"], "--rows: Input should be a valid integer"),
        (["--rows", "5", "--unknown"], "unrecognized arguments: --unknown"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code = main(["simulate", "--url", "http://127.0.0.1:9", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_run_prints_a_summary(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stub = StubService()
    real_client = httpx.Client

    def fake_client(**kwargs) -> httpx.Client:
        return real_client(transport=httpx.MockTransport(stub), **kwargs)

    monkeypatch.setattr(httpx, "Client", fake_client)
    code = main(["simulate", "--url", "127.0.0.1:8000", "--rows", "30", "--batch", "7", "--shift", "tenure_months=-24"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("sent 30 customers in 5 request(s) to http://127.0.0.1:8000")
    assert "model_version v1" in out
