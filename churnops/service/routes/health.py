"""``GET /health``: what is being served, or why nothing is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from churnops.service.deps import json_response
from churnops.service.loader import public, public_path
from churnops.service.routes import add_route
from churnops.service.schemas import HealthOk, HealthUnavailable


async def health(request: Request) -> Response:
    """200 with the served model's md5, where the registry named it, the commit that built it, its
    train params and metrics; 503 with the reason."""
    app_state = request.app.state
    state = app_state.model_state
    model = state.current
    if model is None:
        return json_response({"status": "unavailable", "reason": state.error or "no model loaded"}, 503)
    body = {
        "status": "ok",
        "model_version": model.version,
        "model_kind": model.scorer.kind,
        "threshold": model.threshold,
        "built_by_commit": model.built_by,
        "registry_ref": model.registry_ref,
        "registry_commit": model.registry_commit,
        "loaded_at": model.loaded_at,
        "params": model.params,
        "metrics": model.metrics,
        "last_reload_error": state.last_reload_error,
        "pid": os.getpid(),
        "log": _public_stats(app_state.prediction_log.stats(), app_state.settings.repo),
    }
    return json_response(body)


def _public_stats(stats: dict[str, Any], repo: Path) -> dict[str, Any]:
    """The log writer's stats without an absolute server path: callers of /health need no token."""
    shown = {**stats, "path": public_path(stats["path"], repo)}
    if stats.get("error"):
        shown["error"] = public(stats["error"], repo)
    return shown


def register(app: FastAPI) -> None:
    add_route(app, "/health", health, method="GET", response_model=HealthOk,
              errors={503: (HealthUnavailable, "No verified model is loaded; says why")},
              operation_id="health", tag="operations")  # fmt: skip
