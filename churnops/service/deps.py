"""What the routes need from the app, as typed dependencies and as plain functions.

The operations routes use the ``Annotated[..., Depends(...)]`` aliases below (all
``async def``: FastAPI runs a plain ``def`` dependency in a thread pool). The two
prediction routes call :func:`serving` and the body readers directly instead: FastAPI
resolves each ``Depends`` per request for ~10 µs, and six of them tripled the cost of
a request whose whole budget, next to a constant-JSON endpoint, is ~30 µs in-process.

Request bodies are read and validated with pydantic's Rust JSON parser in one pass
(faster than ``json.loads`` + validation, which matters for 10,000-row batches); the
app declares the same models to OpenAPI (see :func:`churnops.service.app.create_app`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from pydantic import TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect

from churnops.service.clock import Clock
from churnops.service.errors import InvalidRequest
from churnops.service.loader import LoadedModel
from churnops.service.predlog import PredictionLog
from churnops.service.schemas import BATCH, CUSTOMER
from churnops.service.settings import Settings
from churnops.service.state import ModelState

_JSON_TYPES = (b"application/json", b"text/json")


def serving(request: Request) -> tuple[LoadedModel, PredictionLog, Clock, str, float]:
    """Model (read once), log, clock, request id and start time for a prediction route.

    Raises:
        HTTPException: 503 when no verified model is loaded.
    """
    app_state = request.app.state
    model = app_state.model_state.current
    if model is None:
        raise HTTPException(503, f"no model is being served: {app_state.model_state.error}")
    ctx = request.scope["state"]
    return model, app_state.prediction_log, app_state.clock, ctx["request_id"], ctx["t0"]


async def get_settings(request: Request) -> Settings:
    """The app's settings (tests build the app with their own: ``create_app(settings)``)."""
    return request.app.state.settings


async def get_state(request: Request) -> ModelState:
    return request.app.state.model_state


async def current_model(request: Request) -> LoadedModel:
    """The model to serve this request with, read once: a reload cannot change it mid-request."""
    state: ModelState = request.app.state.model_state
    model = state.current
    if model is None:
        raise HTTPException(503, f"no model is being served: {state.error}")
    return model


async def get_log(request: Request) -> PredictionLog:
    return request.app.state.prediction_log


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


async def request_id(request: Request) -> str:
    """Set by :class:`~churnops.service.middleware.RequestContextMiddleware`."""
    return request.scope["state"]["request_id"]


async def _read_json(request: Request, adapter: TypeAdapter[Any]) -> Any:
    ctype = request.headers.get("content-type")
    if ctype:
        media = ctype.split(";", 1)[0].strip().lower().encode()
        if media not in _JSON_TYPES and not media.endswith(b"+json"):
            raise HTTPException(415, f"Content-Type must be application/json, got {ctype!r}")
    try:
        body = await request.body()
    except ClientDisconnect:
        raise HTTPException(400, "client disconnected before sending the whole body") from None
    try:
        return adapter.validate_json(body)
    except ValidationError as err:
        raise InvalidRequest(err.errors(include_url=False)) from None


async def customer_body(request: Request) -> dict[str, Any]:
    """The validated customer (a fresh dict) of a ``/predict`` body; 400/413/415/422 otherwise."""
    return await _read_json(request, CUSTOMER)


async def batch_body(request: Request) -> list[dict[str, Any]]:
    """The validated customers of a ``/predict/batch`` body, in input order."""
    return (await _read_json(request, BATCH))["items"]


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[ModelState, Depends(get_state)]
ModelDep = Annotated[LoadedModel, Depends(current_model)]
LogDep = Annotated[PredictionLog, Depends(get_log)]
ClockDep = Annotated[Clock, Depends(get_clock)]
RequestIdDep = Annotated[str, Depends(request_id)]
