"""Client mistakes become 4xx responses that name the culprit; nothing a client sends yields a 5xx.

Invalid fields -> 422 ``{"detail": [{"loc": "items.3.plan", "msg", "type"}], "message",
"error_count"}``; a body that is not JSON -> 400. 413 and 415 come from
:mod:`churnops.service.deps` and :mod:`churnops.service.middleware`.

A 422 is bounded whatever the body: pydantic's own error list for a body with 330,000 unknown
keys costs 1.4 s and 40 MB, so over :data:`MAX_ERRORS` it is rebuilt from a trimmed copy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from churnops.core.logformat import CUSTOMER_ID
from churnops.core.schema import FEATURE_NAMES
from churnops.service.logwriter import log_rejection

MAX_ERRORS = 20
"""A 422 lists at most this many problems: how much a client is told, independent of how much disk
a refused request may take (:data:`churnops.core.logformat.MAX_REJECTION_ERRORS`)."""

_MAX_LOC_PART = 64  # a key can be megabytes long; the response names its start


class InvalidRequest(Exception):
    """A request body failed validation: the first problems (dicts as pydantic gives) and how many there were."""

    def __init__(self, errors: Sequence[Mapping[str, Any]], count: int | None = None) -> None:
        super().__init__(errors)
        self.errors = [dict(e) for e in errors]
        self.count = len(errors) if count is None else count


def dotted(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("items", 3, "plan")`` -> ``"items.3.plan"``; the whole body is ``"(body)"``."""
    parts = (str(p) for p in loc)
    return ".".join(p if len(p) <= _MAX_LOC_PART else p[: _MAX_LOC_PART - 3] + "..." for p in parts) or "(body)"


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) > 60:
        value = value[:60]  # repr of a 4 MB string would copy it all first
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_errors(err: ValidationError, body: bytes, batch: bool) -> InvalidRequest:
    """At most :data:`MAX_ERRORS` of ``err``'s problems, and their total, at a bounded cost.

    ``err.errors()`` builds a dict per problem; over the cap, a trimmed copy of the body is
    validated instead: the same first problems, for about the work of parsing the body once.
    """
    count = err.error_count()
    if count <= MAX_ERRORS:
        return InvalidRequest(list(err.errors(include_url=False)), count)
    from churnops.service.schemas import BATCH, CUSTOMER, MAX_BATCH

    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:  # pydantic parsed it, orjson did not: 1e999 (json.loads makes it inf)
        try:
            doc = json.loads(body)
        except ValueError:
            return InvalidRequest([{"loc": (), "msg": f"{count} invalid fields", "type": "too_many_errors"}], count)
    if not batch:
        trimmed = _trim(doc, _FEATURES)
        adapter: TypeAdapter[Any] = CUSTOMER
    else:
        trimmed = _trim(doc, _BATCH_KEYS)
        items = trimmed.get("items") if isinstance(trimmed, dict) else None
        if isinstance(items, list) and len(items) <= MAX_BATCH:
            trimmed["items"] = _rows_until_cap(items, CUSTOMER)
        adapter = BATCH
    try:
        adapter.validate_python(trimmed)
    except ValidationError as again:
        return InvalidRequest(list(islice(again.errors(include_url=False), MAX_ERRORS)), count)
    return InvalidRequest([{"loc": (), "msg": f"{count} invalid fields", "type": "too_many_errors"}], count)


_FEATURES = frozenset((*FEATURE_NAMES, CUSTOMER_ID))
_BATCH_KEYS = frozenset({"items"})


def _trim(value: Any, known: frozenset[str]) -> Any:
    """An object keeps its known keys and its first MAX_ERRORS unknown ones; anything else as is."""
    if not isinstance(value, dict):
        return value
    out = {k: value[k] for k in known if k in value}
    for k in islice((k for k in value if k not in known), MAX_ERRORS):
        out[k] = value[k]
    return out


def _rows_until_cap(rows: list[Any], adapter: Any) -> list[Any]:
    """The rows (trimmed) up to the one at which MAX_ERRORS problems have been seen."""
    out: list[Any] = []
    seen = 0
    for row in rows:
        row = _trim(row, _FEATURES)
        out.append(row)
        try:
            adapter.validate_python(row)
        except ValidationError as err:
            seen += err.error_count()
            if seen >= MAX_ERRORS:
                break
    return out


def error_response(errors: list[dict[str, Any]], count: int | None = None, drop_prefix: str | None = None) -> Response:
    """Turn pydantic errors into our 400 (malformed JSON) or 422 (invalid fields) response.

    ``count``: the problems in all; ``drop_prefix``: a leading ``loc`` part to drop (FastAPI's ``"body"``).
    """
    for e in errors:
        if e.get("type") == "json_invalid":
            reason = (e.get("ctx") or {}).get("error") or e.get("msg", "")
            return _json(400, {"detail": f"malformed JSON: {reason}"})
    count = len(errors) if count is None else count
    errors = errors[:MAX_ERRORS]
    detail = []
    parts = []
    for e in errors:
        loc = list(e.get("loc", ()))
        if drop_prefix is not None and loc[:1] == [drop_prefix]:
            loc = loc[1:]
        item = {"loc": dotted(loc), "msg": e.get("msg", ""), "type": e.get("type", "")}
        detail.append(item)
        shown = (
            ""
            if e.get("type") in ("missing", "extra_forbidden", "duplicate_key")
            or isinstance(e.get("input"), dict | list)
            or "input" not in e
            else (f" (got {_short(e.get('input'))})")
        )
        parts.append(f"{item['loc']}: {item['msg']}{shown}")
    message = "; ".join(parts)
    if count > len(errors):
        message += f"; and {count - len(errors)} more problems"
    return _json(422, {"detail": detail, "message": message, "error_count": count})


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def on_invalid(request: Request, exc: Exception) -> Response:
        # The one place a 422 for a prediction body is built, so rejections are logged here.
        assert isinstance(exc, InvalidRequest)
        response = error_response(exc.errors, exc.count)
        if response.status_code == 422:
            log_rejection(request, exc.errors, n_errors=exc.count)
        return response

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        # Parameters FastAPI itself validates (headers, query): same shape as ours.
        assert isinstance(exc, RequestValidationError)
        return error_response(list(exc.errors()), drop_prefix="body")

    app.add_exception_handler(InvalidRequest, on_invalid)
    app.add_exception_handler(RequestValidationError, on_request_validation)
