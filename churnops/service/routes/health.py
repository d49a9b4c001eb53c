"""``GET /health``: what is being served, or why nothing is."""

from __future__ import annotations

import os

import orjson
from fastapi import FastAPI
from starlette.responses import Response

from churnops.service.deps import LogDep, StateDep
from churnops.service.schemas import HealthOk, HealthUnavailable


async def health(state: StateDep, log: LogDep) -> Response:
    """200 with the served model's version, git commit, train params and metrics; 503 with the reason."""
    model = state.current
    if model is None:
        body = {"status": "unavailable", "reason": state.error or "no model loaded"}
        return Response(orjson.dumps(body), status_code=503, media_type="application/json")
    body = {
        "status": "ok",
        "model_version": model.version,
        "model_kind": model.scorer.kind,
        "threshold": model.threshold,
        "model_path": model.path,
        "loaded_at": model.loaded_at,
        "git_commit": model.git_commit,
        "params": model.params,
        "metrics": model.metrics,
        "last_reload_error": state.last_reload_error,
        "pid": os.getpid(),
        "log": log.stats(),
    }
    return Response(orjson.dumps(body), media_type="application/json")


def register(app: FastAPI) -> None:
    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        response_model=HealthOk,
        responses={503: {"model": HealthUnavailable, "description": "No verified model is loaded; says why"}},
        operation_id="health",
        tags=["operations"],
    )
