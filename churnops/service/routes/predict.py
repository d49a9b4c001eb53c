"""``POST /predict`` and ``POST /predict/batch``."""

from __future__ import annotations

import time
from enum import Enum

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.routing import Route

from churnops.predlog import CUSTOMER_ID
from churnops.service.deps import batch_body, customer_body, serving
from churnops.service.predlog import BatchEntry, RowEntry
from churnops.service.schemas import (
    BatchResponse,
    ErrorResponse,
    PredictResponse,
    ValidationErrorResponse,
)

_ERRORS: dict[int | str, dict] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON, or a corrupt gzip body"},
    413: {"model": ErrorResponse, "description": "Body over the size limit (also once gunzipped)"},
    415: {"model": ErrorResponse, "description": "No JSON Content-Type, or a Content-Encoding other than gzip"},
    422: {
        "model": ValidationErrorResponse,
        "description": "Invalid fields or a repeated key, each named (e.g. items.3.plan); the first 20 and a count",
    },
    503: {"model": ErrorResponse, "description": "No verified model is loaded"},
}


def _json(body: dict) -> Response:
    # orjson straight to bytes: skips FastAPI's response-model validation and encoder,
    # which cost more than the prediction itself.
    return Response(orjson.dumps(body), media_type="application/json")


async def predict(request: Request) -> Response:
    """Churn probability and decision for one customer."""
    features = await customer_body(request)
    cid = features.pop(CUSTOMER_ID, None)  # an identity, never a feature
    model, log, clock, rid, t0 = serving(request)
    p = model.scorer.predict_proba_one(features)
    churn = p >= model.threshold
    latency = (time.perf_counter() - t0) * 1000.0
    log.submit(RowEntry(clock.time(), rid, model.version, features, p, churn, latency, cid))
    body = {"request_id": rid, "model_version": model.version, "churn_probability": p, "churn": churn}
    if cid is not None:
        body[CUSTOMER_ID] = cid
    return _json(body)


async def predict_batch(request: Request) -> Response:
    """Churn probabilities and decisions for 1 to 10,000 customers, in input order."""
    features = await batch_body(request)
    ids = [f.pop(CUSTOMER_ID, None) for f in features]
    model, log, clock, rid, t0 = serving(request)
    probs = model.scorer.predict_proba_records(features).tolist()
    threshold = model.threshold
    churn = [p >= threshold for p in probs]
    latency = (time.perf_counter() - t0) * 1000.0
    any_id = any(i is not None for i in ids)
    log.submit(BatchEntry(clock.time(), rid, model.version, features, probs, churn, latency, ids if any_id else None))
    predictions = [{"churn_probability": p, "churn": c} for p, c in zip(probs, churn, strict=True)]
    if any_id:
        for pred, cid in zip(predictions, ids, strict=True):
            if cid is not None:
                pred[CUSTOMER_ID] = cid
    return _json({"request_id": rid, "model_version": model.version, "predictions": predictions})


def register(app: FastAPI) -> None:
    """Add the prediction routes: documented by FastAPI, served by plain Starlette routes.

    The ``APIRoute`` s describe the endpoints to OpenAPI (``/docs``: response models, error
    responses). Requests are served by Starlette ``Route`` s placed first in the routing
    table, which match the same path and method before the ``APIRoute`` s are looked at.
    The endpoints read and validate their bodies themselves (see :mod:`churnops.service.deps`),
    so FastAPI's per-request dependency solving and response encoding did no work for
    them, yet cost ~23 µs of a ~53 µs in-process request: without it /predict costs less
    in-process than a constant-JSON FastAPI endpoint. Error handling is app-wide, so a
    422, 413 or 503 looks the same either way (the API tests run through this path).
    """
    tags: list[str | Enum] = ["predict"]
    app.add_api_route("/predict", predict, methods=["POST"], response_model=PredictResponse, responses=_ERRORS,
                      operation_id="predict", tags=tags)  # fmt: skip
    app.add_api_route("/predict/batch", predict_batch, methods=["POST"], response_model=BatchResponse,
                      responses=_ERRORS, operation_id="predict_batch", tags=tags)  # fmt: skip
    fast = [Route("/predict", predict, methods=["POST"]), Route("/predict/batch", predict_batch, methods=["POST"])]
    app.router.routes[0:0] = fast
