"""The training statistics, ``train_stats.json``: one typed model for both directions.

``prepare`` writes it (:func:`write`), the drift monitor reads it (:func:`load`): one owner of
the format, so a change here changes both sides at once. In core because the monitor imports
no pipeline code.

The file, canonical JSON (sorted keys, so its bytes depend only on the values)::

    {"n": 158380, "churn_rate": 0.4167,
     "numeric": {"tenure_months": {"mean": ..., "std": ..., "min": ..., "max": ...,
                                    "quantiles": {"0.01": ..., ...},
                                    "psi_bins": {"cuts": [...], "counts": [...]}}, ...},
     "categorical": {"plan": {"counts": {"basic": 71167, ...}, "frequencies": {...}}, ...}}

Models are frozen, refuse unknown keys and take strict numbers (``2.0`` is not a count, NaN is
refused). :class:`TrainStats` must match :mod:`churnops.core.schema` exactly (a file from another
schema is stale, not partly usable), and every feature's counts add up to ``n``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError, model_validator

from churnops.core.errors import DataError
from churnops.core.schema import CATEGORICAL, NUMERIC, NUMERIC_NAMES

if TYPE_CHECKING:
    import numpy as np

Count = Annotated[StrictInt, Field(ge=0)]
Share = Annotated[StrictFloat, Field(ge=0, le=1)]

WHAT = "training statistics"


def bin_index(cuts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The PSI bin of each value: bin ``i`` holds ``cuts[i-1] <= x < cuts[i]``, outer bins open-ended.

    One function for ``prepare`` and the monitor, so both sides bin alike.
    """
    import numpy as np

    return np.searchsorted(cuts, x, side="right")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class PsiBins(_Frozen):
    """The PSI bins of one numeric feature (:func:`bin_index`); ``counts`` are training rows per bin.

    Each cut reads as in the column's own dtype (a float32 10.8 is ``10.8``, not
    ``10.800000190734863``), so a logged 10.8 falls in the bin the training 10.8 was counted in.
    """

    cuts: tuple[StrictFloat, ...]
    counts: tuple[Count, ...]

    @model_validator(mode="after")
    def _shape(self) -> PsiBins:
        if len(self.counts) != len(self.cuts) + 1:
            raise ValueError(f"{len(self.counts)} counts for {len(self.cuts)} cuts; need one more count than cuts")
        if any(b <= a for a, b in itertools.pairwise(self.cuts)):
            raise ValueError("cuts must increase")
        if sum(self.counts) == 0:
            raise ValueError("counts are all zero")
        return self


class NumericStats(_Frozen):
    """One numeric feature of the training set; ``std`` is the sample standard deviation (ddof=1)."""

    mean: StrictFloat
    std: Annotated[StrictFloat, Field(ge=0)]
    min: StrictFloat
    max: StrictFloat
    quantiles: dict[str, StrictFloat]  # keyed by the quantile as text ("0.5")
    psi_bins: PsiBins


class CategoricalStats(_Frozen):
    """One categorical feature of the training set: rows per category and their shares."""

    counts: dict[str, Count]
    frequencies: dict[str, Share]


class TrainStats(_Frozen):
    """Everything ``train_stats.json`` holds, checked against the feature schema."""

    n: Count
    churn_rate: Share
    numeric: dict[str, NumericStats]
    categorical: dict[str, CategoricalStats]

    @model_validator(mode="after")
    def _covers_the_schema(self) -> TrainStats:
        unknown = [f"numeric.{k}" for k in self.numeric if k not in NUMERIC_NAMES]
        unknown += [f"categorical.{k}" for k in self.categorical if k not in {cf.name for cf in CATEGORICAL}]
        for f in NUMERIC:
            if f.name not in self.numeric:
                raise ValueError(f"numeric.{f.name}: missing")
        for cf in CATEGORICAL:
            s = self.categorical.get(cf.name)
            if s is None:
                raise ValueError(f"categorical.{cf.name}: missing")
            for c in cf.categories:
                if c not in s.counts:
                    raise ValueError(f"categorical.{cf.name}.counts.{c}: missing")
            unknown += [f"categorical.{cf.name}.counts.{c}" for c in s.counts if c not in cf.categories]
            if sum(s.counts.values()) == 0:
                raise ValueError(f"categorical.{cf.name}.counts: all zero")
        if unknown:
            raise ValueError(f"{unknown[0]}: not in the feature schema (statistics of another schema?)")
        for name, s in self.categorical.items():
            if set(s.frequencies) != set(s.counts):
                raise ValueError(f"categorical.{name}.frequencies: not the categories of its counts")
        # Every feature counts the same training rows: a sum that differs from n is a file
        # edited by hand or cut short, and its shares would be wrong.
        sums = {f"numeric.{k}.psi_bins.counts": sum(v.psi_bins.counts) for k, v in self.numeric.items()}
        sums |= {f"categorical.{k}.counts": sum(v.counts.values()) for k, v in self.categorical.items()}
        for where, total in sums.items():
            if total != self.n:
                raise ValueError(f"{where}: sum to {total}, but n is {self.n}")
        return self


def _one_line(err: ValidationError) -> str:
    """The first problem as ``dotted.field: what is wrong``, plus how many more there are."""
    first = err.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    msg = {"missing": "missing", "extra_forbidden": "unknown field"}.get(first["type"], first["msg"])
    msg = msg.removeprefix("Value error, ")
    if first["type"] not in ("missing", "extra_forbidden", "value_error", "model_type", "dict_type"):
        shown = repr(first["input"])
        msg += f" (got {shown if len(shown) <= 40 else shown[:39] + '…'})"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"


def parse(data: str | bytes | Any, source: str = "train_stats.json") -> TrainStats:
    """Validate JSON text, or a decoded object; raises DataError naming ``source`` and the first bad field."""
    try:
        if isinstance(data, str | bytes):
            return TrainStats.model_validate_json(data)
        return TrainStats.model_validate(data)
    except ValidationError as err:
        if err.errors()[0]["type"] == "json_invalid":
            raise DataError(f"{source}: cannot read {WHAT}: {err.errors()[0]['msg']}") from None
        raise DataError(f"{source}: not valid {WHAT}: {_one_line(err)}") from None


def load(path: str | Path) -> TrainStats:
    """Read and validate ``train_stats.json``; raises DataError naming the path and the field."""
    from churnops.core.io import read_text

    return parse(read_text(path, WHAT), str(path))


def to_json(stats: TrainStats) -> dict[str, Any]:
    """The file's content as plain JSON values (what :func:`write` writes)."""
    return stats.model_dump(mode="json")


def write(target: str | Path, stats: TrainStats) -> None:
    """Atomically write ``stats`` as canonical JSON."""
    from churnops.core.io import write_json

    write_json(target, to_json(stats))
