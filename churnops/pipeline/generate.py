"""Synthetic customers with a learnable churn signal, and a simulated traffic log.

Everything here is a pure function of its parameters and seed. Rows are produced in
fixed-size chunks, each from its own ``numpy`` generator seeded by ``(seed, chunk)``,
so the data depend only on ``seed`` and ``rows`` (not on memory or core count) and
5M rows never sit in memory as Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from churnops.core.logformat import CUSTOMER_ID, FEATURES, PROBABILITY, REQUEST_ID, SOURCE
from churnops.core.schema import CATEGORICAL, LABEL, NUMERIC, CategoricalFeature, categorical

CHUNK_ROWS = 250_000
"""Rows per generated chunk. Part of the data's definition: changing it changes the data."""

PLAN_WEIGHTS = {"basic": 0.45, "standard": 0.35, "premium": 0.20}
REGION_WEIGHTS = {"north": 0.30, "south": 0.25, "east": 0.25, "west": 0.20}

# Effects on the churn log-odds. Short tenure, many complaints, the basic plan and short
# sessions raise risk; the south churns a little more, the west a little less.
_INTERCEPT = 2.0
_TENURE = -0.1
_COMPLAINTS = 1.0
_SESSION = -0.07
_PLAN_EFFECT = {"basic": 1.4, "standard": 0.0, "premium": -1.4}
_REGION_EFFECT = {"north": 0.0, "south": 0.35, "east": 0.1, "west": -0.3}
_NOISE_SD = 0.2

# Values a dirty row may carry: the kinds of damage seen in real exports.
_DIRTY_CATEGORIES = {
    "plan": ("gold", "Basic", "premium "),
    "region": ("North", "central", "n/a"),
}
DIRTY_KINDS = ("null", "out_of_range", "unknown_category", "wrong_type")

# Raw files keep every category a dirty row may hold, so that all chunks share one schema.
RAW_CATEGORIES = {f.name: tuple(f.categories) + _DIRTY_CATEGORIES[f.name] for f in CATEGORICAL}


def _weights(feature: CategoricalFeature, mix: Mapping[str, float] | None) -> np.ndarray:
    base = PLAN_WEIGHTS if feature.name == "plan" else REGION_WEIGHTS
    w = np.array([(mix or base).get(c, 0.0 if mix else base[c]) for c in feature.categories])
    result: np.ndarray = w / w.sum()
    return result


def sample_features(
    rng: np.random.Generator,
    n: int,
    shift: Mapping[str, float] | None = None,
    mix: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, np.ndarray]:
    """Draw ``n`` valid customers as columns (category columns hold category codes).

    Args:
        rng: the generator to draw from.
        n: number of customers.
        shift: additive shift per numeric feature, applied before clipping to its range.
        mix: replacement category weights per categorical feature.

    Returns:
        ``{name: array}``; numeric arrays in the schema dtype, categorical arrays as
        ``int8`` codes into the schema's categories.
    """
    shift = shift or {}
    mix = mix or {}
    cols: dict[str, np.ndarray] = {}
    plans, regions = categorical("plan"), categorical("region")
    plan = rng.choice(len(plans.categories), size=n, p=_weights(plans, mix.get("plan"))).astype(np.int8)
    region = rng.choice(len(regions.categories), size=n, p=_weights(regions, mix.get("region"))).astype(np.int8)
    premium, basic = plan == plans.categories.index("premium"), plan == plans.categories.index("basic")
    # Premium customers stay longer and complain less: features are correlated, as in life.
    tenure = rng.gamma(1.6, 18.0, size=n) + 8.0 * premium
    complaints = rng.poisson(1.4 - 0.5 * premium + 0.3 * basic, size=n).astype(float)
    session = rng.lognormal(np.log(22.0), 0.55, size=n)
    raw = {"tenure_months": tenure, "num_complaints": complaints, "avg_session_minutes": session}
    for f in NUMERIC:
        v = raw[f.name] + shift.get(f.name, 0.0)
        v = np.round(v) if f.integer else np.round(v, 1)
        cols[f.name] = np.clip(v, f.low, f.high).astype(f.dtype)
    cols["plan"] = plan
    cols["region"] = region
    return cols


def churn_probability(
    cols: Mapping[str, np.ndarray],
    tenure_effect: float | None = None,
    region_effect: Mapping[str, float] | None = None,
) -> np.ndarray:
    """The true churn probability of each customer (the signal a model should learn).

    Args:
        cols: the customers, as :func:`sample_features` returns them.
        tenure_effect: replaces the truth's tenure coefficient (``_TENURE`` per month):
            concept drift, e.g. 0.0 when tenure stops protecting against churn.
        region_effect: added to the log-odds of the named regions (a new regional effect).
    """
    extra = region_effect or {}
    region_cats = categorical("region").categories
    plan = np.array([_PLAN_EFFECT[c] for c in categorical("plan").categories])[cols["plan"]]
    region = np.array([_REGION_EFFECT[c] + extra.get(c, 0.0) for c in region_cats])[cols["region"]]
    logit = (
        _INTERCEPT
        + (_TENURE if tenure_effect is None else tenure_effect) * cols["tenure_months"].astype(float)
        + _COMPLAINTS * cols["num_complaints"].astype(float)
        + _SESSION * cols["avg_session_minutes"].astype(float)
        + plan
        + region
    )
    result: np.ndarray = 1.0 / (1.0 + np.exp(-logit))
    return result


def _codes_to_categorical(codes: np.ndarray, name: str) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=list(RAW_CATEGORIES[name]))


def _dirty(rng: np.random.Generator, frame: dict[str, np.ndarray], fraction: float) -> None:
    """Damage about ``fraction`` of the rows in place, one defect per damaged row."""
    n = len(frame[LABEL])
    bad = np.flatnonzero(rng.random(n) < fraction)
    kinds = rng.integers(0, len(DIRTY_KINDS), size=bad.size)
    names = [f.name for f in NUMERIC] + [f.name for f in CATEGORICAL]
    for row, kind in zip(bad, kinds, strict=True):
        kind_name = DIRTY_KINDS[kind]
        if kind_name == "null":
            col = names[rng.integers(len(names))]
            if col in RAW_CATEGORIES:
                frame[col][row] = -1  # a missing category
            else:
                frame[col][row] = np.nan
        elif kind_name == "out_of_range":
            f = NUMERIC[rng.integers(len(NUMERIC))]
            frame[f.name][row] = rng.choice([f.low - 1 - rng.integers(0, 50), f.high * 4 + 1])
        elif kind_name == "unknown_category":
            cf = CATEGORICAL[rng.integers(len(CATEGORICAL))]
            frame[cf.name][row] = len(cf.categories) + rng.integers(len(_DIRTY_CATEGORIES[cf.name]))
        else:  # wrong_type: a fraction where the schema wants a whole number
            f = [g for g in NUMERIC if g.integer][rng.integers(2)]
            frame[f.name][row] = float(frame[f.name][row]) + 0.5


def generate_chunks(seed: int, rows: int, dirty_fraction: float) -> Iterator[pd.DataFrame]:
    """Yield the raw customer table in chunks of at most :data:`CHUNK_ROWS` rows.

    Raw numeric columns are ``float32`` (so nulls and bad values can be represented);
    categorical columns are pandas categoricals over :data:`RAW_CATEGORIES`; ``churn``
    is ``int8``.
    """
    for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        rng = np.random.default_rng([seed, chunk])
        cols = sample_features(rng, n)
        label = (rng.random(n) < churn_probability(_noisy(rng, cols))).astype(np.int8)
        frame: dict[str, np.ndarray] = {f.name: cols[f.name].astype(np.float32) for f in NUMERIC}
        for f in CATEGORICAL:
            frame[f.name] = cols[f.name].astype(np.int8)
        frame[LABEL] = label
        _dirty(rng, frame, dirty_fraction)
        out = {f.name: frame[f.name] for f in NUMERIC}
        for f in CATEGORICAL:
            out[f.name] = _codes_to_categorical(frame[f.name], f.name)
        out[LABEL] = frame[LABEL]
        yield pd.DataFrame(out)


def _noisy(rng: np.random.Generator, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Perturb the log-odds inputs so the label is not a deterministic function of them."""
    noisy = dict(cols)
    noisy["tenure_months"] = cols["tenure_months"] + rng.normal(0, _NOISE_SD / -_TENURE, len(cols["plan"]))
    return noisy


def traffic_records(
    seed: int,
    rows: int,
    shift: Mapping[str, float] | None = None,
    mix: Mapping[str, Mapping[str, float]] | None = None,
    truth: Mapping[str, Any] | None = None,
    labels: list[tuple[str, int]] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield simulated prediction records in the log format (:mod:`churnops.core.logformat`).

    Each record has ``features`` (the five fields as JSON types), the true
    ``churn_probability`` of that customer, a ``customer_id`` and ``source: "simulated"``.

    Args:
        truth: ``tenure_effect`` and ``region_effect`` of :func:`churn_probability`
            (concept drift: the same customers churn differently).
        labels: when given, ``(customer_id, churn)`` of every customer yielded is appended
            to it: the label that arrives later, drawn from the same truth.
    """
    truth = dict(truth or {})
    for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        rng = np.random.default_rng([seed, chunk, 1])
        cols = sample_features(rng, n, shift=shift, mix=mix)
        proba = churn_probability(cols, truth.get("tenure_effect"), truth.get("region_effect"))
        # Labels from their own stream: the features are the same with or without them.
        churned = np.random.default_rng([seed, chunk, 2]).random(n) < proba
        cats = {f.name: f.categories for f in CATEGORICAL}
        for i in range(n):
            features: dict[str, object] = {}
            for f in NUMERIC:
                v = cols[f.name][i]
                features[f.name] = int(v) if f.integer else round(float(v), 1)
            for name, categories in cats.items():
                features[name] = categories[cols[name][i]]
            cid = f"sim-{seed}-{start + i}"
            if labels is not None:
                labels.append((cid, int(churned[i])))
            yield {
                REQUEST_ID: cid,
                CUSTOMER_ID: cid,
                SOURCE: "simulated",
                FEATURES: features,
                PROBABILITY: round(float(proba[i]), 6),
            }
