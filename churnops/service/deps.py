"""What the routes need from the app, as plain functions of the request.

Plain functions, not ``Annotated[..., Depends(...)]`` aliases: FastAPI resolves each
``Depends`` per request for ~10 µs, and six of them tripled the cost of a request whose
whole budget is ~30 µs in-process (:mod:`churnops.service.routes`).

Bodies are parsed and validated by pydantic's Rust JSON parser in one pass, faster than
``json.loads`` + validation on 10,000-row batches.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson
from fastapi import HTTPException, Request
from pydantic import TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from churnops.core.schema import FEATURE_NAMES
from churnops.service.clock import Clock
from churnops.service.http_errors import InvalidRequest, first_errors
from churnops.service.loader import LoadedModel
from churnops.service.logwriter import PredictionLog
from churnops.service.schemas import BATCH, CUSTOMER, MAX_CUSTOMER_BYTES, Batch, batch_fast

_JSON_TYPES = (b"application/json", b"text/json")


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as JSON bytes, with no response-model validation: FastAPI's costs more than the prediction.

    ``tests/service/test_response_models.py`` holds every 2xx body to its declared model instead.
    """
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def serving(request: Request) -> tuple[LoadedModel, PredictionLog, Clock, str, float]:
    """Model (read once: a reload cannot change it mid-request), log, clock, request id and start time.

    Raises HTTPException 503 when no verified model is loaded (the one place that says so).
    """
    app_state = request.app.state
    model = app_state.model_state.current
    if model is None:
        raise HTTPException(503, f"no model is being served: {app_state.model_state.error}")
    ctx = request.scope["state"]
    return model, app_state.prediction_log, app_state.clock, ctx["request_id"], ctx["t0"]


async def _read_body(request: Request, batch: bool) -> bytes:
    """Read a JSON body, as sent before any ``Content-Encoding``; every client mistake is a 4xx naming it.

    A missing Content-Type is a 415 too: a client must say what it sends.
    """
    headers = request.headers
    ctype = headers.get("content-type")
    if not ctype:
        raise HTTPException(415, "Content-Type must be application/json, got none")
    media = ctype.split(";", 1)[0].strip().lower().encode()
    if media not in _JSON_TYPES and not media.endswith(b"+json"):
        raise HTTPException(415, f"Content-Type must be application/json, got {ctype!r}")
    try:
        body = await request.body()  # the middleware holds it to max_body_bytes as it arrives
    except ClientDisconnect:
        raise HTTPException(400, "client disconnected before sending the whole body") from None
    encoding = headers.get("content-encoding")
    if encoding is not None:
        limit = request.app.state.settings.max_body_bytes if batch else MAX_CUSTOMER_BYTES
        body = decode_body(body, encoding, limit)
    if not batch and len(body) > MAX_CUSTOMER_BYTES:
        raise HTTPException(413, f"request body exceeds the {MAX_CUSTOMER_BYTES}-byte limit of /predict")
    return body


def _validate(body: bytes, adapter: TypeAdapter[Any], batch: bool) -> Any:
    """The body validated by ``adapter``; a 422 listing its first problems otherwise."""
    try:
        return adapter.validate_json(body)
    except ValidationError as err:
        raise first_errors(err, body, batch) from None


def _refuse_repeated_keys(body: bytes, keys: int) -> None:
    """422 naming the key when an object of a valid body (holding ``keys`` keys in all) repeats one.

    A valid body has exactly one ':' per key (no value holds one), so only a count that differs
    parses again (:func:`duplicate_key`). A category holding a ':' would cost speed, never correctness.
    """
    if body.count(b":") != keys:
        dup = duplicate_key(body)
        if dup is not None:
            loc, key = dup
            msg = f"Key {key!r} is given more than once (JSON keeps only one: which is ambiguous)"
            raise InvalidRequest([{"loc": (*loc, key), "msg": msg, "type": "duplicate_key"}])


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """The body as sent before ``Content-Encoding``: gzip is decoded, never past ``limit`` bytes.

    Never inflating more than ``limit + 1`` bytes, a 4 KB gzip bomb stops at the limit (413).
    """
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return body
    if name not in ("gzip", "x-gzip"):
        raise HTTPException(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as err:
        raise HTTPException(400, f"malformed gzip body: {err}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise HTTPException(413, f"request body exceeds the {limit}-byte limit once decompressed")
    if not inflater.eof:
        raise HTTPException(400, "malformed gzip body: truncated stream")
    return out


def duplicate_key(body: bytes) -> tuple[tuple[Any, ...], str] | None:
    """Where a JSON object in ``body`` repeats a key: (location of the object, key), or None.

    ``json.loads`` with an ``object_pairs_hook`` sees every pair; orjson and pydantic keep the last silently.
    """

    class Repeated(dict[str, Any]):
        key: str | None = None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = Repeated()
        for k, v in items:
            if k in obj and obj.key is None:
                obj.key = k
            obj[k] = v
        return obj

    try:
        doc = json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return None
    stack: list[tuple[tuple[Any, ...], Any]] = [((), doc)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, Repeated):
            if value.key is not None:
                return loc, value.key
            stack.extend(((*loc, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in reversed(list(enumerate(value))))
    return None


async def customer_body(request: Request) -> dict[str, Any]:
    """The validated customer (a fresh dict) of a ``/predict`` body; 400/413/415/422 otherwise."""
    body = await _read_body(request, batch=False)
    customer: dict[str, Any] = _validate(body, CUSTOMER, batch=False)
    _refuse_repeated_keys(body, len(customer))
    return customer


async def batch_body(request: Request) -> Batch:
    """The validated customers of a ``/predict/batch`` body, in input order.

    Columnar validation first; the full validator only when it is unsure, so that a refusal names its culprit.
    """
    body = await _read_body(request, batch=True)
    batch = batch_fast(body)
    if batch is None:
        batch = Batch(_validate(body, BATCH, batch=True)["items"], None)
    keys = len(batch.items) * len(FEATURE_NAMES) if batch.columns is not None else sum(map(len, batch.items))
    _refuse_repeated_keys(body, 1 + keys)
    return batch
