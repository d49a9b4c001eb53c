"""Thin route modules (parse with :mod:`~churnops.service.deps`, call the core, shape the response),
and :func:`add_route`, the one way an endpoint joins the app.

Every endpoint has two faces, made by :func:`add_route` from one declaration:

- the **served** face, a plain Starlette ``Route`` whose handler validates its body itself and
  returns bytes. FastAPI's dependency solving and response encoding cost ~23 µs of a ~53 µs
  in-process ``/predict``;
- the **documented** face, a FastAPI ``APIRoute`` that only feeds OpenAPI. It is never called:
  the served face sits first in the routing table.

Nothing validates a response at run time (the cost avoided);
``tests/service/test_response_models.py`` holds every 2xx body to its declared model.
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

    ``handler``'s docstring is the operation's description; ``errors`` maps each non-2xx status
    to (body model, when it happens); ``security`` only documents the auth scheme: the handler
    checks credentials itself.
    """
    # Served faces have distinct paths, so their order among themselves does not matter.
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
