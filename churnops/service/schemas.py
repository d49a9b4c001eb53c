"""Request and response models, derived from :mod:`churnops.schema`.

:class:`Customer` is built from :data:`churnops.schema.FEATURES`, so a new feature is
a one-file change. Validation is strict where it protects the model: unknown fields are
errors (``extra="forbid"``), strings are not numbers, booleans are not integers, an
integer feature takes a JSON number with no fractional part (``92`` or ``92.0``, as the
OpenAPI ``type: integer`` says; ``92.5`` is refused), NaN/Infinity are refused, ranges
and categories come from the schema. Errors carry locations such as ``items.3.plan``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, GetPydanticSchema, StringConstraints, TypeAdapter, WithJsonSchema
from pydantic_core import core_schema
from typing_extensions import TypedDict

from churnops.predlog import CUSTOMER_ID, CUSTOMER_ID_PATTERN
from churnops.schema import FEATURES, NumericFeature

MAX_BATCH = 10_000
"""Largest accepted batch: bounded so one request cannot monopolise a worker."""

MAX_CUSTOMER_BYTES = 64 * 1024
"""Largest ``/predict`` body (413 above). A customer is ~120 bytes; the cap bounds what a
malformed body (say 300,000 unknown keys) costs to parse. Batches have the server's
``max_body_bytes``."""

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

    JSON Schema's ``type: integer`` admits 92.0, so the validator does too (OpenAPI and
    validator agree). Built in pydantic-core: a JSON integer takes the strict-int branch
    with no Python call; only a float pays for ``int()``. Strings and booleans stay refused.
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
        Literal[feature.categories],  # type: ignore[valid-type]
        Field(description=f"{feature.description}: one of {', '.join(feature.categories)}"),
    ]


_STRICT = ConfigDict(extra="forbid")

CustomerId = Annotated[
    str,
    StringConstraints(strict=True, pattern=CUSTOMER_ID_PATTERN),
    Field(description="Optional caller's id of the customer (1-64 of A-Z a-z 0-9 . _ : -): echoed and "
          "logged so delayed churn labels can be joined to the prediction; never a model feature"),
]  # fmt: skip

# TypedDicts, not BaseModels: validating a 10,000-row batch into plain dicts takes a
# third of the time of building 10,000 model instances, and the scorer wants dicts.
Customer: Any = TypedDict(  # type: ignore[misc]
    "Customer", {**{f.name: _field_type(f) for f in FEATURES}, CUSTOMER_ID: NotRequired[CustomerId]}
)
Customer.__doc__ = "One customer: exactly the schema's features, no more, no less, and an optional customer_id."
Customer.__pydantic_config__ = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_CUSTOMER]})


class BatchRequest(TypedDict):
    """Up to 10,000 customers, scored in one call."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]

    items: Annotated[list[Customer], Field(min_length=1, max_length=MAX_BATCH)]  # type: ignore[valid-type]


CUSTOMER = TypeAdapter(Customer)
BATCH = TypeAdapter(BatchRequest)


class PredictResponse(BaseModel):
    request_id: str
    customer_id: str | None = Field(default=None, description="Echoed when the request sent one")
    model_version: str = Field(description="md5 of the model file, as dvc.lock records it")
    churn_probability: float
    churn: bool = Field(description="churn_probability >= the model's threshold (train.threshold)")


class BatchPrediction(BaseModel):
    customer_id: str | None = Field(default=None, description="Echoed when the item sent one")
    churn_probability: float
    churn: bool


class BatchResponse(BaseModel):
    request_id: str
    model_version: str
    predictions: list[BatchPrediction] = Field(description="One per item, in input order")


class HealthOk(BaseModel):
    status: Literal["ok"]
    model_version: str
    model_kind: str
    threshold: float
    model_path: str
    loaded_at: str
    git_commit: str | None = Field(description="HEAD of the served repository when the model was loaded")
    params: dict[str, Any] = Field(description="The train params dvc.lock records for this model")
    metrics: dict[str, Any] | None = Field(description="metrics/evaluate.json, if present")
    last_reload_error: str | None = None


class HealthUnavailable(BaseModel):
    status: Literal["unavailable"]
    reason: str


class ReloadResponse(BaseModel):
    status: Literal["reloaded"]
    model_version: str
    previous_version: str | None
    changed: bool
    workers: dict[str, int] | None = Field(
        default=None, description="With several workers: how many now serve model_version, out of how many"
    )


class ReloadFailed(BaseModel):
    status: Literal["failed"]
    reason: str
    model_version: str | None = Field(description="The version still being served (unchanged)")


class ErrorDetail(BaseModel):
    loc: str
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    detail: list[ErrorDetail] = Field(description="The first 20 problems, each named (e.g. items.3.plan)")
    message: str = Field(description="The listed problems in one line, each prefixed by its field")
    error_count: int = Field(description="How many problems the body has in all (the list stops at 20)")


class ErrorResponse(BaseModel):
    detail: str
