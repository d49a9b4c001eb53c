"""``POST /admin/reload``: re-read the registry, verify its ``prod`` model, swap; bearer-token protected.

Status codes: 200 reloaded; 401 no bearer token; 403 wrong token; 404 when no token is
configured (the endpoint does not exist then); 409 when the new model cannot be loaded
(the old one keeps being served, and the body says why).
"""

from __future__ import annotations

import hmac
import time

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from starlette.responses import Response

from churnops.service.deps import json_response
from churnops.service.routes import add_route
from churnops.service.schemas import ErrorResponse, ReloadFailed, ReloadResponse
from churnops.service.settings import ADMIN_TOKEN_ENV
from churnops.service.state import propagate, tally


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


async def reload(request: Request) -> Response:
    """Load the model the registry names prod now, verify its md5, swap it in on every worker.

    Every worker reloads once and records the outcome (a failure too) before the answer:
    ``workers`` counts those that ended as this one did.
    """
    settings = request.app.state.settings
    check_token(settings.admin_token, request.headers.get("authorization"))
    state = request.app.state.model_state
    since = time.monotonic()
    everywhere = await propagate(
        settings.supervisor_pid, settings.run_dir, since, settings.workers, settings.reload_wait_seconds
    )
    # Unsupervised, this worker reloads here; supervised, the forwarded SIGHUP reloaded it,
    # unless the signal never came back within the wait.
    outcome = state.outcome_since(since) or await state.reload()
    workers = tally(settings.run_dir, since, outcome, settings.workers) if everywhere else None
    if not outcome.ok:
        body = {
            "status": "failed",
            "reason": outcome.reason,
            "model_version": outcome.model_version,
            "workers": workers,
        }
        return json_response(body, 409)
    assert outcome.model_version is not None
    body = {
        "status": "reloaded",
        "model_version": outcome.model_version,
        "previous_version": outcome.previous_version,
        "changed": outcome.model_version != outcome.previous_version,
        "workers": workers,
    }
    return json_response(body)


_BEARER = HTTPBearer(auto_error=False, description=f"The token in {ADMIN_TOKEN_ENV}")
"""Documentation only: puts the bearer scheme in OpenAPI; :func:`check_token` does the checking."""


def register(app: FastAPI) -> None:
    errors: dict[int, tuple[type[BaseModel], str]] = {
        401: (ErrorResponse, "No bearer token"),
        403: (ErrorResponse, "Wrong token"),
        404: (ErrorResponse, f"Disabled: {ADMIN_TOKEN_ENV} not configured"),
        409: (ReloadFailed, "New model refused; the old one is still served"),
    }
    add_route(app, "/admin/reload", reload, method="POST", response_model=ReloadResponse, errors=errors,
              operation_id="reload", tag="operations", security=[Security(_BEARER)])  # fmt: skip
