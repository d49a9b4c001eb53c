"""One typed loader for ``params.yaml``, used by every stage and CLI.

The file is parsed into frozen pydantic models. Unknown keys, wrong types and
out-of-range values are rejected before any work starts, and the message names the
dotted key (``train.gate_f1``), so a stage can fail in one readable line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from churnops.errors import ParamsError
from churnops.io import read_text
from churnops.schema import BY_NAME, CATEGORICAL_NAMES, NUMERIC_NAMES, CategoricalFeature

DEFAULT_PATH = Path("params.yaml")

Fraction01 = Annotated[float, Field(gt=0, lt=1)]
Probability = Annotated[float, Field(ge=0, le=1)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class _Section(BaseModel):
    # strict: "0.7" (a string) is not a float, true is not an int; extra: typos are errors.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TruthParams(_Section):
    """The truth the simulated traffic's labels are drawn from: concept drift when changed."""

    tenure_effect: float | None = None
    """Log-odds per month of tenure; null = as in the training data (-0.1); 0 = tenure stops protecting."""
    region_effect: dict[str, float] = Field(default_factory=dict)
    """Log-odds added per region, e.g. {north: 1.5}: a new regional effect."""

    @field_validator("region_effect")
    @classmethod
    def _regions(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(BY_NAME["region"].categories)  # type: ignore[union-attr]
        if unknown:
            raise ValueError(f"unknown regions {sorted(unknown)}")
        return value


class TrafficParams(_Section):
    """The simulated prediction log that generate writes for the monitor stage."""

    rows: Annotated[int, Field(ge=0, le=10_000_000)] = 2000
    seed: Seed = 7
    shift: dict[str, float] = Field(default_factory=dict)
    """Additive shift per numeric feature, in the feature's own units."""
    mix: dict[str, dict[str, Annotated[float, Field(ge=0)]]] = Field(default_factory=dict)
    """Replacement category weights per categorical feature (renormalised)."""
    truth: TruthParams = TruthParams()

    @field_validator("shift")
    @classmethod
    def _shift_names(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            if name not in NUMERIC_NAMES:
                raise ValueError(f"{name!r} is not a numeric feature (one of {list(NUMERIC_NAMES)})")
        return value

    @field_validator("mix")
    @classmethod
    def _mix_names(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for name, weights in value.items():
            feature = BY_NAME.get(name)
            if not isinstance(feature, CategoricalFeature):
                raise ValueError(f"{name!r} is not a categorical feature (one of {list(CATEGORICAL_NAMES)})")
            unknown = set(weights) - set(feature.categories)
            if unknown:
                raise ValueError(f"{name}: unknown categories {sorted(unknown)}")
            if weights and sum(weights.values()) <= 0:
                raise ValueError(f"{name}: weights must not all be zero")
        return value


class GenerateParams(_Section):
    seed: Seed = 42
    rows: Annotated[int, Field(gt=0, le=100_000_000)] = 200_000
    dirty_fraction: Annotated[float, Field(ge=0, le=0.5)] = 0.01
    traffic: TrafficParams = TrafficParams()


class PrepareParams(_Section):
    seed: Seed = 42
    test_fraction: Fraction01 = 0.2
    max_rejected_fraction: Probability = 0.05
    histogram_bins: Annotated[int, Field(ge=2, le=1000)] = 20


class LogregParams(_Section):
    C: Annotated[float, Field(gt=0)] = 1.0
    max_iter: Annotated[int, Field(ge=1, le=100_000)] = 200


class HgbParams(_Section):
    learning_rate: Annotated[float, Field(gt=0, le=1)] = 0.1
    max_iter: Annotated[int, Field(ge=1, le=10_000)] = 100
    max_leaf_nodes: Annotated[int, Field(ge=2, le=1024)] = 31
    max_depth: Annotated[int, Field(ge=1, le=64)] | None = None
    min_samples_leaf: Annotated[int, Field(ge=1)] = 20
    l2_regularization: Annotated[float, Field(ge=0)] = 0.0


class TrainParams(_Section):
    seed: Seed = 42
    model: Literal["logreg", "hgb"] = "logreg"
    validation_fraction: Fraction01 = 0.2
    gate_f1: Probability = 0.70
    promote_margin: Annotated[float, Field(ge=0, le=1)] = 0.0
    """The challenger replaces the champion only if its F1 on the feedback hold-out is at least
    the champion's plus this (churnops/promote.py)."""
    threshold: Fraction01 = 0.5
    """Decision threshold on the churn probability; stored inside the model file."""
    logreg: LogregParams = LogregParams()
    hgb: HgbParams = HgbParams()


class MonitorParams(_Section):
    log: str | Annotated[list[str], Field(min_length=1)] = "data/traffic/predictions.jsonl"
    """One log, a glob (``logs/*/predictions.jsonl``) or a list of them: replicas are one window."""
    last_n: Annotated[int, Field(ge=1, le=10_000_000)] = 200
    z_threshold: Annotated[float, Field(gt=0)] = 2.0
    min_samples: Annotated[int, Field(ge=1)] = 30
    chi2_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    max_invalid_fraction: Annotated[float, Field(ge=0, le=1)] = 0.05
    """More invalid lines than this share of the window is drift (data quality)."""

    @field_validator("log")
    @classmethod
    def _log_not_blank(cls, value: str | list[str]) -> str | list[str]:
        for item in [value] if isinstance(value, str) else value:
            if not item.strip():
                raise ValueError("a log path must not be empty")
        return value


class FeedbackParams(_Section):
    """Delayed labels joined to the prediction log (churnops/feedback.py)."""

    log: str = "data/traffic/predictions.jsonl"
    """The prediction log the feedback stage joins labels to (a path)."""
    labels: str = "data/traffic/labels.csv"
    """The labels file (CSV or JSON lines: customer_id, churn, optional observed_at)."""
    min_f1: Probability = 0.70
    """The feedback stage's status is degraded below this live F1 (the stage does not list
    train.gate_f1: a gate change must leave dvc.lock untouched when train fails)."""
    min_labels: Annotated[int, Field(ge=1)] = 100
    """Fewer joined labels than this -> status insufficient_labels (not judged)."""
    holdout_fraction: Fraction01 = 0.3
    """Share of labeled traffic kept to judge promotion; never trained on."""
    include: bool = False
    """prepare adds the rest of the labeled traffic to the training rows."""
    weight: Annotated[int, Field(ge=1, le=1000)] = 1
    """Each included labeled row counts this many times in training (rows repeated): recent
    traffic outweighs the older generated data."""
    window: Annotated[int, Field(ge=1)] = 100_000
    """Only the newest this-many labeled rows are used (recency window)."""


class Params(_Section):
    """The whole of params.yaml. Every section must be present."""

    generate: GenerateParams
    prepare: PrepareParams
    train: TrainParams
    monitor: MonitorParams
    feedback: FeedbackParams


def format_validation_error(err: ValidationError, source: str) -> str:
    """Render a pydantic error as ``source: dotted.key: message`` lines."""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = e.get("input")
        shown = "" if isinstance(got, dict) or e["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{source}: {key}: {e['msg']}{shown}")
    return "; ".join(lines)


def missing_keys(model: type[BaseModel], data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the keys of ``model`` (recursively, section by section) absent from ``data``.

    The models have defaults, for code that builds params without a file; the file itself
    must set every key, so that a renamed or deleted key is an error, not a silent default.
    """
    out = []
    for name, field in model.model_fields.items():
        value = data.get(name, _ABSENT)
        if value is _ABSENT:
            out.append(f"{prefix}{name}")
        elif isinstance(field.annotation, type) and issubclass(field.annotation, _Section) and isinstance(value, dict):
            out += missing_keys(field.annotation, value, f"{prefix}{name}.")
    return out


_ABSENT = object()


def parse_params(data: Any, source: str = "params.yaml") -> Params:
    """Validate an already-parsed params mapping: every key present, none unknown, all in range.

    Raises:
        ParamsError: naming the dotted key of every invalid, unknown or missing value.
    """
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(data).__name__}")
    problems = []
    try:
        params = Params.model_validate(data)
    except ValidationError as err:
        problems.append(format_validation_error(err, source))
    missing = [k for k in missing_keys(Params, data) if "." in k]  # pydantic already names missing sections
    problems += [f"{source}: {key}: Field required" for key in missing]
    if problems:
        raise ParamsError("; ".join(problems))
    return params


def params_schema() -> dict[str, Any]:
    """The JSON schema of params.yaml: its keys, types and bounds, none of its values."""
    return Params.model_json_schema()


def load_params(path: str | Path = DEFAULT_PATH) -> Params:
    """Read and validate ``params.yaml``.

    Raises:
        ParamsError: the file is missing, is not YAML, or holds an invalid value.
    """
    text = read_text(path, "params file", ParamsError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    return parse_params(data, source=str(path))
