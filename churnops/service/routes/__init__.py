"""Thin route modules (parse with :mod:`~churnops.service.deps`, call the core, shape the response),
and :func:`add_route`, the one way an endpoint joins the app.

Every endpoint has two faces, both made by :func:`add_route` from one declaration (path,
method, request body type, response model, error responses):

- the **served** face, a plain Starlette ``Route``: the handler takes the ``Request``,
  reads and validates its body itself and returns bytes. FastAPI's per-request dependency
  solving and response encoding cost ~23 µs of a ~53 µs in-process ``/predict``: without
  them /predict costs less than a constant-JSON FastAPI endpoint;
- the **documented** face, a FastAPI ``APIRoute`` built from the same declaration, which
  only feeds OpenAPI (``/openapi.json``, ``/docs``). Its endpoint is never called: the
  served face sits first in the routing table and matches the same path and method.

Error handling is app-wide (:mod:`churnops.service.http_errors`), so a 4xx or 503 looks the same
either way. Nothing validates a response at run time (that is the cost we avoid):
``tests/service/test_response_models.py`` checks every 2xx body of every endpoint the
OpenAPI document lists against the response model declared here.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.params import Depends
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


def add_route(
    app: FastAPI,
    path: str,
    handler: Handler,
    *,
    method: str,
    response_model: type[BaseModel],
    errors: dict[int, tuple[type[BaseModel], str]],
    operation_id: str,
    tag: str,
    body: Any = None,
    security: Sequence[Depends] = (),
) -> None:
    """Serve ``handler`` at ``method path`` and document it, from this one declaration.

    Args:
        handler: ``async (request) -> Response``; its docstring is the operation's description.
        response_model: what a 200 body is (the response-model test holds the handler to it).
        errors: status -> (body model, when it happens), for every non-2xx answer.
        body: the request body's type (e.g. ``Customer``), or None when there is none.
        security: documentation-only dependencies (e.g. ``HTTPBearer``) that put the
            endpoint's auth scheme in OpenAPI; the handler checks credentials itself.
    """
    # First in the table, so it answers before any other route; served faces have distinct
    # paths, so their order among themselves does not matter.
    app.router.routes.insert(0, Route(path, handler, methods=[method], name=operation_id))
    tags: list[str | Enum] = [tag]
    app.add_api_route(
        path,
        _documented(handler, body),
        methods=[method],
        response_model=response_model,
        responses={status: {"model": model, "description": text} for status, (model, text) in errors.items()},
        operation_id=operation_id,
        tags=tags,
        dependencies=list(security),
    )


def _documented(handler: Handler, body: Any) -> Callable[..., Any]:
    """An endpoint with the signature OpenAPI should show (the body, if any) and no behaviour."""

    async def documented(**_: Any) -> None:  # pragma: no cover - the served face answers first
        raise RuntimeError(f"{handler.__name__}: the documented face of a route was called")

    kind = inspect.Parameter.KEYWORD_ONLY
    params = [] if body is None else [inspect.Parameter("body", kind, annotation=Annotated[body, Body()])]
    documented.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    documented.__name__ = handler.__name__
    documented.__doc__ = handler.__doc__
    return documented
