"""The report over time: per chunk and per model version served in it, drift, data quality,
CBPE's estimated F1, realized F1 where labels joined, and prod's periods from the registry.

It ties the monitor (:mod:`churnops.report.groups`), the label join
(:mod:`churnops.pipeline.labeljoin`, used through its public functions) and the registry's
history (:mod:`churnops.versioning.events`) together; none of them knows the others.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.errors import ChurnopsError, ParamsError
from churnops.report.chunks import UNDATED, ts_seconds
from churnops.report.estimate import CBPE_LIMITS, estimate
from churnops.report.groups import Group
from churnops.report.scan import Scanner

if TYPE_CHECKING:
    import pandas as pd

    from churnops.core.trainstats import TrainStats
    from churnops.monitor.rules import Rules

METRICS = ("estimated_f1", "realized_f1", "invalid_fraction", "drifted", "mean_probability", "churn_rate")
"""What ``--fail-on`` can test, per chunk: ``drifted`` counts the chunk's flags (features, predictions,
invalid lines)."""
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_CONDITION = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Condition:
        m = _CONDITION.match(text)
        if not m or m.group(1) not in METRICS:
            raise ParamsError(
                f"--fail-on {text!r}: expected METRIC<NUMBER (or <=, >, >=) with METRIC one of "
                f"{', '.join(METRICS)}, e.g. 'estimated_f1<0.7'"
            )
        try:
            value = float(m.group(3))
        except ValueError:
            raise ParamsError(f"--fail-on {text!r}: {m.group(3)!r} is not a number") from None
        return cls(m.group(1), m.group(2), value)

    def holds(self, row: dict[str, Any]) -> bool:
        value = row.get(self.metric)
        return value is not None and _OPS[self.op](float(value), self.value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def _iso(secs: float | None) -> str | None:
    return None if secs is None else datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def figures(g: Group, stats: TrainStats, rules: Rules, seed: int) -> dict[str, Any]:
    """One row of the report: a chunk (all versions) or one version's part of it."""
    drift = g.drift(stats, rules)
    est = estimate(g.expected, seed)
    e = g.expected
    return {
        "lines": g.lines,
        "invalid_fraction": drift["invalid_fraction"],
        "invalid_reasons": {k: v["lines"] for k, v in drift["quality"]["reasons"].items()},
        "status": drift["status"],
        "flagged": drift["flagged"],
        "drifted": len(drift["flagged"]),
        "drift": {
            **{name: r["drifted"] for name, r in drift["features"].items()},
            "prediction": bool(drift["prediction"].get("drifted", False)),
            "invalid_lines": bool(drift["quality"]["drifted"]),
        },
        "mean_probability": _r(g.p_sum / g.p_n) if g.p_n else None,
        "churn_rate": _r(e.pos_n / e.n) if e.n else None,
        "estimated_f1": _r(est.f1),
        "estimated_low": _r(est.low),
        "estimated_high": _r(est.high),
        "decisions": e.n,
        "realized_f1": None,
        "labels": 0,
    }


def _realized(row: dict[str, Any], frame: pd.DataFrame) -> None:
    from churnops.pipeline.labeljoin import figures as join_figures

    figs = join_figures(frame)
    row["labels"] = int(figs["n_labeled"])
    row["realized_f1"] = _r(figs["f1"]) if figs["n_labeled"] else None
    if row["realized_f1"] is not None and row["estimated_f1"] is not None:
        row["difference"] = _r(row["realized_f1"] - row["estimated_f1"])
        row["departs"] = not (row["estimated_low"] <= row["realized_f1"] <= row["estimated_high"])


def _chunk_of_joined(frame: pd.DataFrame, scanner: Scanner, keys: Sequence[int]) -> np.ndarray:
    """Each joined row's chunk: by its ``ts`` (by time) or its position in the logs (by count)."""
    chunking = scanner.chunking
    if chunking.lines is not None:
        firsts = np.array([min(g.first_line or 0 for g in scanner.groups[k].values()) for k in keys])
        at = np.searchsorted(firsts, frame["order_pos"].to_numpy(dtype=np.int64), side="right") - 1
        return np.array([keys[i] if i >= 0 else UNDATED for i in at], dtype=np.int64)
    step = chunking.seconds or 1
    out = []
    for ts in frame["order_ts"]:
        secs = ts_seconds(ts) if ts else None
        out.append(UNDATED if secs is None else math.floor(secs / step))
    return np.array(out, dtype=np.int64)


def bands(root: Path) -> tuple[list[dict[str, Any]], str | None]:
    """Prod's periods from the registry's history: ``[{model_version, entered, left}]`` and a note if unread."""
    from churnops.versioning import registry
    from churnops.versioning.events import events, periods

    try:
        history = events(root, registry.read(root))
    except ChurnopsError as err:
        return [], f"no version bands: {err}"
    out = []
    for md5, stretches in periods(history).items():
        for p in stretches:
            entered = datetime.fromisoformat(p.entered.date).timestamp()
            left = datetime.fromisoformat(p.left.date).timestamp() if p.left else None
            out.append(
                {
                    "model_version": md5,
                    "entered": _iso(entered),
                    "left": _iso(left),
                    "entered_by": p.entered.action,
                    "left_by": p.left.action if p.left else None,
                }
            )
    out.sort(key=lambda b: str(b["entered"]))
    return out, None if out else "no version bands: the registry has no history"


def build(
    scanner: Scanner,
    stats: TrainStats,
    rules: Rules,
    joined: pd.DataFrame | None,
    calibration: dict[str, Any],
    version_bands: list[dict[str, Any]],
    notes: list[str],
) -> dict[str, Any]:
    """The report as a JSON-able dict; chunks oldest first (the undated one, if any, first)."""
    keys = sorted(scanner.groups)
    by_chunk = _chunk_of_joined(joined, scanner, keys) if joined is not None else None
    step = scanner.chunking.seconds
    chunks = []
    for index, key in enumerate(keys):
        total = Group()
        for g in scanner.groups[key].values():
            total.merge(g)
        row = figures(total, stats, rules, seed=index)
        if step is not None:
            start = None if key == UNDATED else key * step
            row["chunk"] = "undated" if start is None else _iso(start)
            row["start"], row["end"] = _iso(start), _iso(start + step) if start is not None else None
        else:
            row["chunk"] = f"#{key + 1}"
            row["start"], row["end"] = _iso(total.ts_min), _iso(total.ts_max)
        row["first_line"] = total.first_line
        versions = []
        for version in sorted(scanner.groups[key], key=lambda v: (v is None, v or "")):
            v_row = figures(scanner.groups[key][version], stats, rules, seed=index)
            v_row["model_version"] = version
            if joined is not None and by_chunk is not None:
                part = joined[(by_chunk == key) & (joined["model_version"] == version).to_numpy()]
                _realized(v_row, part)
            versions.append(v_row)
        if joined is not None and by_chunk is not None:
            _realized(row, joined[by_chunk == key])
        row["versions"] = versions
        chunks.append(row)
    trusted = calibration.get("trusted")
    return {
        "chunking": scanner.chunking.label(),
        "lines": sum(c["lines"] for c in chunks),
        "labels": joined is not None,
        "cbpe": {"limits": CBPE_LIMITS, "trusted": trusted, "message": calibration.get("message")},
        "calibration": calibration,
        "bands": version_bands,
        "notes": notes,
        "chunks": chunks,
    }


def unchecked(report: dict[str, Any], conditions: Sequence[Condition]) -> list[str]:
    """The conditions no chunk could be checked against (their figure is missing everywhere), with why.

    A cron job's ``--fail-on estimated_f1<0.7`` that never saw an estimate must not pass in
    silence: generated traffic logs no decision (no estimate), and labels may not have arrived.
    """
    why = {"estimated_f1": "no logged decisions to estimate from", "realized_f1": "no labels joined"}
    return [
        f"--fail-on {c}: not checked: {c.metric} is missing in every chunk ({why.get(c.metric, 'no value')})"
        for c in conditions
        if all(row.get(c.metric) is None for row in report["chunks"])
    ]


def failures(report: dict[str, Any], conditions: Sequence[Condition]) -> list[str]:
    """``condition: chunk, chunk...`` for each condition some chunk meets (empty: exit 0)."""
    out = []
    for c in conditions:
        hits = [row for row in report["chunks"] if c.holds(row)]
        if hits:
            shown = ", ".join(f"{r['chunk']} ({r[c.metric]})" for r in hits[:3])
            out.append(f"{c} in {len(hits)} chunk(s): {shown}{', ...' if len(hits) > 3 else ''}")
    return out
