"""``POST /admin/reload``: re-read dvc.lock, verify, swap; bearer-token protected.

Status codes: 200 reloaded; 401 no bearer token; 403 wrong token; 404 when no token is
configured (the endpoint does not exist then); 409 when the new model cannot be loaded
(the old one keeps being served, and the body says why).
"""

from __future__ import annotations

import hmac
from typing import Annotated

import orjson
from fastapi import FastAPI, Header, HTTPException
from starlette.responses import Response

from churnops.service.deps import SettingsDep, StateDep
from churnops.service.schemas import ErrorResponse, ReloadFailed, ReloadResponse
from churnops.service.settings import ADMIN_TOKEN_ENV
from churnops.service.state import propagate


def check_token(configured: str | None, authorization: str | None) -> None:
    """Raise the right HTTPException unless ``authorization`` carries the configured token."""
    if not configured:
        raise HTTPException(404, f"admin endpoints are disabled: {ADMIN_TOKEN_ENV} is not set")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    # Constant-time comparison: response timing must not reveal how much of a guess was right.
    if not hmac.compare_digest(token.strip().encode(), configured.encode()):
        raise HTTPException(403, "invalid token")


async def reload(
    state: StateDep, settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Load the model dvc.lock now records, verify its md5, swap it in on every worker."""
    check_token(settings.admin_token, authorization)
    outcome = await state.reload()
    if not outcome.ok:
        body = {"status": "failed", "reason": outcome.reason, "model_version": outcome.model_version}
        return Response(orjson.dumps(body), status_code=409, media_type="application/json")
    assert outcome.model_version is not None
    workers = await propagate(
        settings.supervisor_pid, settings.run_dir, outcome.model_version, settings.workers, settings.reload_wait_seconds
    )
    body = {
        "status": "reloaded",
        "model_version": outcome.model_version,
        "previous_version": outcome.previous_version,
        "changed": outcome.model_version != outcome.previous_version,
        "workers": workers,
    }
    return Response(orjson.dumps(body), media_type="application/json")


def register(app: FastAPI) -> None:
    app.add_api_route(
        "/admin/reload",
        reload,
        methods=["POST"],
        response_model=ReloadResponse,
        responses={
            401: {"model": ErrorResponse, "description": "No bearer token"},
            403: {"model": ErrorResponse, "description": "Wrong token"},
            404: {"model": ErrorResponse, "description": f"Disabled: {ADMIN_TOKEN_ENV} not configured"},
            409: {"model": ReloadFailed, "description": "New model refused; the old one is still served"},
        },
        operation_id="reload",
        tags=["operations"],
    )
