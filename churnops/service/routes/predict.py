"""``POST /predict`` and ``POST /predict/batch``."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.responses import Response

from churnops.core.logformat import CUSTOMER_ID, BatchEntry, RowEntry
from churnops.service.deps import batch_body, customer_body, json_response, serving
from churnops.service.routes import add_route
from churnops.service.schemas import (
    BatchRequest,
    BatchResponse,
    Customer,
    ErrorResponse,
    PredictResponse,
    ValidationErrorResponse,
)

_ERRORS: dict[int, tuple[type[BaseModel], str]] = {
    400: (ErrorResponse, "Malformed JSON, or a corrupt gzip body"),
    413: (ErrorResponse, "Body over the size limit (also once gunzipped)"),
    415: (ErrorResponse, "No JSON Content-Type, or a Content-Encoding other than gzip"),
    422: (
        ValidationErrorResponse,
        "Invalid fields or a repeated key, each named (e.g. items.3.plan); the first 20 and a count",
    ),
    503: (ErrorResponse, "No verified model is loaded"),
}


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
    return json_response(body)


async def predict_batch(request: Request) -> Response:
    """Churn probabilities and decisions for 1 to 10,000 customers, in input order."""
    features, columns = await batch_body(request)
    # The columnar validator only passes items holding exactly the features: no ids to look for.
    ids = None if columns is not None else [f.pop(CUSTOMER_ID, None) for f in features]
    model, log, clock, rid, t0 = serving(request)
    scorer = model.scorer
    scores = scorer.predict_proba_columns(columns) if columns is not None else scorer.predict_proba_records(features)
    probs = scores.tolist()
    churn = (scores >= model.threshold).tolist()
    latency = (time.perf_counter() - t0) * 1000.0
    if ids is not None and all(i is None for i in ids):
        ids = None
    log.submit(BatchEntry(clock.time(), rid, model.version, features, probs, churn, latency, ids))
    predictions = [{"churn_probability": p, "churn": c} for p, c in zip(probs, churn, strict=True)]
    if ids is not None:
        for pred, cid in zip(predictions, ids, strict=True):
            if cid is not None:
                pred[CUSTOMER_ID] = cid
    return json_response({"request_id": rid, "model_version": model.version, "predictions": predictions})


def register(app: FastAPI) -> None:
    add_route(app, "/predict", predict, method="POST", body=Customer, response_model=PredictResponse,
              errors=_ERRORS, operation_id="predict", tag="predict")  # fmt: skip
    add_route(app, "/predict/batch", predict_batch, method="POST", body=BatchRequest, response_model=BatchResponse,
              errors=_ERRORS, operation_id="predict_batch", tag="predict")  # fmt: skip
