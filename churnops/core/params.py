"""One typed loader for ``params.yaml``, used by every stage and CLI.

Frozen pydantic models reject unknown keys, wrong types and out-of-range values before any
work starts, naming the dotted key (``train.gate_f1``).

The models hold types and bounds, no defaults: DVC needs every key a stage lists in the file
anyway, so a default could only be a second copy that drifts, and a missing key must be an error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from churnops.core import paths
from churnops.core.errors import ParamsError
from churnops.core.io import read_text
from churnops.core.schema import categorical, numeric

Fraction01 = Annotated[float, Field(gt=0, lt=1)]
Probability = Annotated[float, Field(ge=0, le=1)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
MIN_BEYOND_BOUND = 20
"""Resamples the judge's lower bound must leave beyond it: ``(1 - confidence) * resamples``."""


class _Section(BaseModel):
    # strict: "0.7" (a string) is not a float, true is not an int; extra: typos are errors.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TruthParams(_Section):
    """The truth the simulated traffic's labels are drawn from: concept drift when changed."""

    tenure_effect: float | None
    """Log-odds per month of tenure; null = as in the training data; 0 = tenure stops protecting."""
    region_effect: dict[str, float]
    """Log-odds added per region, e.g. {north: 1.5}: a new regional effect."""

    @field_validator("region_effect")
    @classmethod
    def _regions(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(categorical("region").categories)
        if unknown:
            raise ValueError(f"unknown regions {sorted(unknown)}")
        return value


class TrafficParams(_Section):
    """The simulated prediction log that generate writes for the monitor stage."""

    rows: Annotated[int, Field(ge=0, le=10_000_000)]
    seed: Seed
    shift: dict[str, float]
    """Additive shift per numeric feature, in the feature's own units."""
    mix: dict[str, dict[str, Annotated[float, Field(ge=0)]]]
    """Replacement category weights per categorical feature (renormalised)."""
    truth: TruthParams

    @field_validator("shift")
    @classmethod
    def _shift_names(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            numeric(name)  # a ValueError naming the numeric features
        return value

    @field_validator("mix")
    @classmethod
    def _mix_names(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for name, weights in value.items():
            feature = categorical(name)
            unknown = set(weights) - set(feature.categories)
            if unknown:
                raise ValueError(f"{name}: unknown categories {sorted(unknown)}")
            if weights and sum(weights.values()) <= 0:
                raise ValueError(f"{name}: weights must not all be zero")
        return value


class GenerateParams(_Section):
    seed: Seed
    rows: Annotated[int, Field(gt=0, le=100_000_000)]
    dirty_fraction: Annotated[float, Field(ge=0, le=0.5)]
    traffic: TrafficParams


class PrepareParams(_Section):
    seed: Seed
    test_fraction: Fraction01
    max_rejected_fraction: Probability


class LogregParams(_Section):
    C: Annotated[float, Field(gt=0)]
    max_iter: Annotated[int, Field(ge=1, le=100_000)]


class HgbParams(_Section):
    learning_rate: Annotated[float, Field(gt=0, le=1)]
    max_iter: Annotated[int, Field(ge=1, le=10_000)]
    max_leaf_nodes: Annotated[int, Field(ge=2, le=1024)]
    max_depth: Annotated[int, Field(ge=1, le=64)] | None
    min_samples_leaf: Annotated[int, Field(ge=1)]
    l2_regularization: Annotated[float, Field(ge=0)]


class TrainParams(_Section):
    seed: Seed
    model: Literal["logreg", "hgb"]
    validation_fraction: Fraction01
    gate_f1: Probability
    threshold: Fraction01
    """Decision threshold on the churn probability; stored inside the model file."""
    logreg: LogregParams
    hgb: HgbParams


class PromoteParams(_Section):
    """The judge stage: is the candidate better than the champion beyond noise (churnops/pipeline/judge.py)?"""

    champion: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None
    """md5 of the model candidates are judged against (prod's); null = no champion yet."""
    confidence: Annotated[float, Field(ge=0.5, le=0.999)]
    """One-sided confidence of the paired bootstrap's lower bound on the F1 gain."""
    min_gain: Annotated[float, Field(ge=0, lt=1)]
    """The candidate is recommended only when the lower bound of its gain exceeds this."""
    min_holdout: Annotated[int, Field(ge=2, le=100_000_000)]
    """The feedback hold-out decides when it has this many rows with both classes; else the test set."""
    resamples: Annotated[int, Field(ge=100, le=1_000_000)]
    seed: Seed

    @field_validator("resamples")
    @classmethod
    def _enough_beyond_the_bound(cls, value: int, info: ValidationInfo) -> int:
        # The bound is an order statistic of the resamples: with fewer than ~20 beyond it, it is
        # as noisy as the gain it bounds.
        confidence = info.data.get("confidence")
        if confidence is not None and (1 - confidence) * value < MIN_BEYOND_BOUND:
            need = math.ceil(MIN_BEYOND_BOUND / (1 - confidence))
            raise ValueError(f"at confidence {confidence} the lower bound needs at least {need} resamples")
        return value


class MonitorParams(_Section):
    log: str | Annotated[list[str], Field(min_length=1)]
    """One log, a glob (``logs/*/predictions.jsonl``) or a list of them: replicas are one window."""
    last_n: Annotated[int, Field(ge=1, le=10_000_000)]
    z_threshold: Annotated[float, Field(gt=0)]
    min_samples: Annotated[int, Field(ge=1)]
    chi2_alpha: Annotated[float, Field(gt=0, lt=1)]
    max_invalid_fraction: Annotated[float, Field(ge=0, le=1)]
    """More invalid lines than this share of the window is drift (data quality)."""

    @field_validator("log")
    @classmethod
    def _log_not_blank(cls, value: str | list[str]) -> str | list[str]:
        for item in [value] if isinstance(value, str) else value:
            if not item.strip():
                raise ValueError("a log path must not be empty")
        return value


class FeedbackParams(_Section):
    """Delayed labels joined to the prediction log (churnops/pipeline/labeljoin.py)."""

    log: str
    labels: str
    """The labels file (CSV or JSON lines: customer_id, churn, optional observed_at)."""
    min_f1: Probability
    """The feedback stage's status is degraded below this live F1 (the stage does not list
    train.gate_f1: a gate change must leave dvc.lock untouched when train fails)."""
    min_labels: Annotated[int, Field(ge=1)]
    """Fewer joined labels than this -> status insufficient_labels (not judged)."""
    holdout_fraction: Fraction01
    """Share of labeled traffic kept to judge promotion; never trained on."""
    include: bool
    """prepare adds the rest of the labeled traffic to the training rows."""
    weight: Annotated[int, Field(ge=1, le=1000)]
    """Each included labeled row counts this many times in training (rows repeated): recent
    traffic outweighs the older generated data."""
    window: Annotated[int, Field(ge=1)]
    """Only the newest this-many labeled rows are used (recency window)."""


class Params(_Section):
    """The whole of params.yaml. Every section must be present."""

    generate: GenerateParams
    prepare: PrepareParams
    train: TrainParams
    promote: PromoteParams
    monitor: MonitorParams
    feedback: FeedbackParams


def format_validation_error(err: ValidationError, source: str) -> str:
    """``source: dotted.key: message`` for each problem, joined by ``; ``."""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = e.get("input")
        shown = "" if isinstance(got, dict) or e["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{source}: {key}: {e['msg']}{shown}")
    return "; ".join(lines)


def parse_params(data: Any, source: str = paths.PARAMS) -> Params:
    """Validate a parsed params mapping; ParamsError names the dotted key of every bad value."""
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(data).__name__}")
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ParamsError(format_validation_error(err, source)) from None


def params_schema() -> dict[str, Any]:
    """The JSON schema of params.yaml: its keys, types and bounds, none of its values."""
    return Params.model_json_schema()


def load_params(path: str | Path = paths.PARAMS) -> Params:
    """Read and validate ``params.yaml``; ParamsError if missing, not YAML, or invalid."""
    text = read_text(path, "params file", ParamsError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    return parse_params(data, source=str(path))
