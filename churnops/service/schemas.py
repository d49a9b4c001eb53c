"""Request and response models, derived from :mod:`churnops.core.schema`.

Validation is strict where it protects the model: unknown fields are errors, strings are not
numbers, booleans are not integers, an integer feature takes ``92`` or ``92.0`` (as OpenAPI's
``type: integer`` says) but not ``92.5``, NaN/Infinity are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple, NotRequired

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field, GetPydanticSchema, StringConstraints, TypeAdapter, WithJsonSchema
from pydantic_core import core_schema
from typing_extensions import TypedDict

from churnops.core.logformat import CUSTOMER_ID, CUSTOMER_ID_PATTERN
from churnops.core.schema import CATEGORICAL, FEATURES, NUMERIC, NumericFeature

MAX_BATCH = 10_000
"""Largest accepted batch: bounded so one request cannot monopolise a worker."""

MAX_CUSTOMER_BYTES = 64 * 1024
"""A customer is ~120 bytes; the cap bounds what a malformed body (300,000 unknown keys) costs to parse."""

EXAMPLE_CUSTOMER: dict[str, Any] = {
    "tenure_months": 14,
    "num_complaints": 2,
    "avg_session_minutes": 21.5,
    "plan": "basic",
    "region": "south",
}


def _whole(value: float) -> int:
    # Exact, unlike pydantic's float multiple_of (which has a tolerance: it took 2.6e-42).
    if not value.is_integer():
        raise ValueError("not a whole number")
    return int(value)


def _integer(low: float, high: float, description: str) -> Any:
    """An integer feature: a JSON integer, or a float with no fractional part (92.0 -> 92).

    Built in pydantic-core: a JSON integer takes the strict-int branch with no Python call.
    """
    whole_float = core_schema.no_info_after_validator_function(
        _whole, core_schema.float_schema(strict=True, allow_inf_nan=False)
    )
    either = core_schema.union_schema(
        [core_schema.int_schema(strict=True), whole_float],
        custom_error_type="int_type",  # one error, as for a plain int, not one per branch
    )
    ranged = core_schema.chain_schema([either, core_schema.int_schema(strict=True, ge=int(low), le=int(high))])
    return Annotated[
        int,
        GetPydanticSchema(lambda _type, _handler: ranged),
        WithJsonSchema({"type": "integer", "minimum": int(low), "maximum": int(high), "description": description}),
    ]


def _field_type(feature: Any) -> Any:
    if isinstance(feature, NumericFeature):
        description = f"{feature.description} ({feature.low:g} to {feature.high:g})"
        if feature.integer:
            return _integer(feature.low, feature.high, description)
        # strict float still takes JSON integers (20 is a fine session length), not strings.
        return Annotated[
            float,
            Field(ge=feature.low, le=feature.high, strict=True, allow_inf_nan=False, description=description),
        ]
    return Annotated[
        Literal[feature.categories],
        Field(description=f"{feature.description}: one of {', '.join(feature.categories)}"),
    ]


CustomerId = Annotated[
    str,
    StringConstraints(strict=True, pattern=CUSTOMER_ID_PATTERN),
    Field(description="Optional caller's id of the customer (1-64 of A-Z a-z 0-9 . _ : -): echoed and "
          "logged so delayed churn labels can be joined to the prediction; never a model feature"),
]  # fmt: skip

# TypedDicts, not BaseModels: validating a 10,000-row batch into plain dicts takes a
# third of the time of building 10,000 model instances, and the scorer wants dicts.
Customer: Any = TypedDict(
    "Customer",
    {**{f.name: _field_type(f) for f in FEATURES}, CUSTOMER_ID: NotRequired[CustomerId]},  # type: ignore[misc]
)
Customer.__doc__ = "One customer: exactly the schema's features, no more, no less, and an optional customer_id."
# pydantic reads the config off the class; mypy does not know the attribute.
Customer.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
    extra="forbid", json_schema_extra={"examples": [EXAMPLE_CUSTOMER]}
)


class BatchRequest(TypedDict):
    """Up to 10,000 customers, scored in one call."""

    # pydantic's documented TypedDict config; the example feeds the response-model test.
    __pydantic_config__ = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [EXAMPLE_CUSTOMER]}]})  # type: ignore[misc]

    items: Annotated[list[Customer], Field(min_length=1, max_length=MAX_BATCH)]


CUSTOMER = TypeAdapter(Customer)
BATCH = TypeAdapter(BatchRequest)

_INTEGER = tuple((f.name, f.low, f.high) for f in NUMERIC if f.integer)
_REAL = tuple((f.name, f.low, f.high) for f in NUMERIC if not f.integer)
_CATEGORIES = tuple((f.name, frozenset(f.categories)) for f in CATEGORICAL)
_N_FEATURES = len(FEATURES)


class Batch(NamedTuple):
    """A validated ``/predict/batch`` body: its items and, from the fast path, the same values by feature."""

    items: list[dict[str, Any]]
    columns: dict[str, Any] | None
    """Feature name -> its values in item order, for the scorer; None when the full validator ran."""


def batch_fast(body: bytes) -> Batch | None:
    """A valid ``/predict/batch`` body, checked column by column; None if unsure.

    Same items as ``BATCH.validate_json(body)["items"]`` for every body it accepts (a test
    compares the two), at a third of the cost for 10,000 rows: per feature, one pass and a
    numpy min/max instead of a validator call per field. It never explains a refusal: on
    anything unusual it returns None and the caller runs the full validator, which names the culprit.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or len(doc) != 1:
        return None
    items = doc.get("items")
    if type(items) is not list or not 1 <= len(items) <= MAX_BATCH:
        return None
    n = len(items)
    columns: dict[str, Any] = {}
    try:
        # With as many keys as features, collecting the columns raises KeyError unless the keys
        # are exactly the features (TypeError for a number, string or list item).
        if set(map(len, items)) != {_N_FEATURES}:
            return None
        for name, low, high in _INTEGER:
            column = [row[name] for row in items]
            # bool is a subclass of int but not an accepted integer: type(), not isinstance().
            if set(map(type, column)) != {int}:
                return None
            values = np.fromiter(column, np.int64, n)  # OverflowError beyond 64 bits
            if values.min() < low or values.max() > high:
                return None
            columns[name] = values
        for name, low, high in _REAL:
            column = [row[name] for row in items]
            types = set(map(type, column))
            if not types <= {float, int}:
                return None
            values = np.fromiter(column, np.float64, n)  # orjson refuses NaN and Infinity: all finite
            if values.min() < low or values.max() > high:
                return None
            if int in types:  # the validator turns 20 into 20.0 for a float feature: so do we
                for row in items:
                    row[name] = float(row[name])
            columns[name] = values
        for name, categories in _CATEGORIES:
            column = columns[name] = [row[name] for row in items]
            if not set(column) <= categories:
                return None
    except (KeyError, TypeError, OverflowError):  # a missing key; an item not an object; an unhashable category
        return None
    return Batch(items, columns)


class _Response(BaseModel):
    """A response body: exactly these fields, so a field the endpoint adds and the model
    lacks fails ``tests/service/test_response_models.py`` instead of going undocumented."""

    model_config = ConfigDict(extra="forbid")


class PredictResponse(_Response):
    request_id: str
    customer_id: str | None = Field(default=None, description="Echoed when the request sent one")
    model_version: str = Field(description="md5 of the model, as the registry names it (prod)")
    churn_probability: float
    churn: bool = Field(description="churn_probability >= the model's threshold (train.threshold)")


class BatchPrediction(_Response):
    customer_id: str | None = Field(default=None, description="Echoed when the item sent one")
    churn_probability: float
    churn: bool


class BatchResponse(_Response):
    request_id: str
    model_version: str
    predictions: list[BatchPrediction] = Field(description="One per item, in input order")


class LogStats(_Response):
    """The prediction log's state in one worker."""

    mode: Literal["background"] = Field(description="How lines reach the disk: a writer thread per worker")
    path: str = Field(description="Relative to --repo when the log is inside it, else …/<file name>")
    ok: bool = Field(description="Whether the last write succeeded")
    error: str | None = Field(description="Why the last write failed")
    lines_written: int
    dropped_lines: int = Field(description="Lines lost to a full queue or a failing disk")
    queued_lines: int = Field(description="Lines waiting for the writer")
    write_errors: int = Field(description="Failed writes")
    encode_errors: int = Field(description="Entries that could not be encoded")


class HealthOk(_Response):
    status: Literal["ok"]
    model_version: str = Field(description="md5 of the served model: the registry's prod, its bytes checked against it")
    model_kind: str
    threshold: float
    built_by_commit: str = Field(description="The commit whose dvc.lock records this model (the one that built it)")
    registry_ref: str = Field(description="The registry ref prod was read from, e.g. churnops/registry")
    registry_commit: str = Field(description="The registry's commit then: who promoted the model, when and why")
    loaded_at: str
    params: dict[str, Any] = Field(description="The train params the built-by commit's dvc.lock records")
    metrics: dict[str, Any] | None = Field(description="The built-by commit's metrics/evaluate.json, if any")
    last_reload_error: str | None = Field(description="Why the last reload failed (the model above is still served)")
    pid: int = Field(description="The worker process that answered (one of several with --workers)")
    log: LogStats = Field(description="This worker's prediction log")


class HealthUnavailable(_Response):
    status: Literal["unavailable"]
    reason: str


WORKERS = (
    "With several workers: how many reloaded and ended as this answer says (serving model_version, "
    "with last_reload_error null after a reload, or this reason after a refusal), out of how many"
)


class ReloadResponse(_Response):
    status: Literal["reloaded"]
    model_version: str
    previous_version: str | None
    changed: bool
    workers: dict[str, int] | None = Field(default=None, description=WORKERS)


class ReloadFailed(_Response):
    status: Literal["failed"]
    reason: str
    model_version: str | None = Field(description="The version still being served (unchanged)")
    workers: dict[str, int] | None = Field(default=None, description=WORKERS)


class ErrorDetail(_Response):
    loc: str
    msg: str
    type: str


class ValidationErrorResponse(_Response):
    detail: list[ErrorDetail] = Field(description="The first 20 problems, each named (e.g. items.3.plan)")
    message: str = Field(description="The listed problems in one line, each prefixed by its field")
    error_count: int = Field(description="How many problems the body has in all (the list stops at 20)")


class ErrorResponse(_Response):
    detail: str
