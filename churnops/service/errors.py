"""Client mistakes become 4xx responses that name the culprit; nothing a client sends yields a 5xx.

- invalid fields (missing, extra, wrong type, out of range, unknown category, batch size)
  -> 422 ``{"detail": [{"loc": "items.3.plan", "msg": ..., "type": ...}], "message": ...}``
- a body that is not JSON -> 400 ``{"detail": "malformed JSON: ..."}``
- a body that is not declared as JSON -> 415; a body over the limit -> 413
  (:mod:`churnops.service.middleware`)
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from churnops.service.predlog import log_rejection


class InvalidRequest(Exception):
    """A request body failed validation; carries pydantic's error list."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def dotted(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("items", 3, "plan")`` -> ``"items.3.plan"``; the whole body is ``"(body)"``."""
    return ".".join(str(p) for p in loc) or "(body)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def error_response(errors: list[dict[str, Any]], drop_prefix: str | None = None) -> Response:
    """Turn pydantic errors into our 400 (malformed JSON) or 422 (invalid fields) response."""
    for e in errors:
        if e.get("type") == "json_invalid":
            reason = (e.get("ctx") or {}).get("error") or e.get("msg", "")
            return _json(400, {"detail": f"malformed JSON: {reason}"})
    detail = []
    for e in errors:
        loc = list(e.get("loc", ()))
        if drop_prefix is not None and loc[:1] == [drop_prefix]:
            loc = loc[1:]
        item = {"loc": dotted(loc), "msg": e.get("msg", ""), "type": e.get("type", "")}
        detail.append(item)
    parts = []
    for d, e in zip(detail, errors, strict=True):
        shown = (
            ""
            if e.get("type") in ("missing", "extra_forbidden") or isinstance(e.get("input"), dict | list)
            else (f" (got {_short(e.get('input'))})")
        )
        parts.append(f"{d['loc']}: {d['msg']}{shown}")
    return _json(422, {"detail": detail, "message": "; ".join(parts)})


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidRequest)
        response = error_response(exc.errors)
        if response.status_code == 422:
            log_rejection(request, exc.errors)  # the prediction log records what the API refused
        return response

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        # Parameters FastAPI itself validates (headers, query): same shape as ours.
        assert isinstance(exc, RequestValidationError)
        return error_response(list(exc.errors()), drop_prefix="body")

    app.add_exception_handler(InvalidRequest, on_invalid)
    app.add_exception_handler(RequestValidationError, on_request_validation)
