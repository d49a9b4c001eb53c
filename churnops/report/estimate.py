"""F1 before the labels arrive (confidence-based performance estimation), and how far to trust it.

CBPE reads the served probabilities as the chance each customer churns. At the model's
threshold (the decision it logged) the expected confusion matrix is ``E[TP] = sum p`` over
predicted churners, ``E[FP] = sum (1 - p)`` over them and ``E[FN] = sum p`` over the others,
and the estimate is ``2 TP / (2 TP + FP + FN)`` of those. Its interval is that of the F1 the
labels would give if the probabilities are right: outcomes are drawn as independent
Bernoulli(p) (TP and FN as normals with the Poisson-binomial mean and variance, seeded).

It is only as good as the model's calibration, measured here on the fixed test set
(expected calibration error and a reliability curve). It sees covariate shift (new inputs,
scored by a model still calibrated on them) and cannot see concept shift (the same inputs
churning differently): only realized F1 shows that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from churnops.report.groups import Expected

DRAWS = 2000
"""Simulated outcome sets per interval."""
LEVEL = 0.95
SEED = 20
MAX_ECE = 0.05
"""Expected calibration error above which the report says CBPE is not to be trusted."""
RELIABILITY_BINS = 10

CBPE_LIMITS = (
    "CBPE assumes the served probabilities are calibrated: it follows covariate shift (new inputs) "
    "but cannot see concept shift (the same inputs churning differently); only realized F1 shows that."
)


@dataclass(frozen=True)
class Estimate:
    f1: float | None
    low: float | None
    high: float | None
    n: int


def estimate(e: Expected, seed: int = SEED) -> Estimate:
    """CBPE's F1 and its interval from the expected confusion matrix (None without decisions)."""
    tp, fp, fn = e.pos_p, e.pos_n - e.pos_p, e.neg_p
    if e.n == 0 or 2 * tp + fp + fn <= 0:
        return Estimate(None, None, None, e.n)
    f1 = 2 * tp / (2 * tp + fp + fn)
    rng = np.random.default_rng(seed)
    sd_tp = np.sqrt(max(e.pos_p - e.pos_p2, 0.0))
    sd_fn = np.sqrt(max(e.neg_p - e.neg_p2, 0.0))
    tp_s = np.clip(rng.normal(e.pos_p, sd_tp, DRAWS), 0, e.pos_n)
    fn_s = np.clip(rng.normal(e.neg_p, sd_fn, DRAWS), 0, e.neg_n)
    denominator = tp_s + e.pos_n + fn_s  # 2 TP + FP + FN, with FP = predicted positives - TP
    f1_s = np.divide(2 * tp_s, denominator, out=np.zeros(DRAWS), where=denominator > 0)
    low, high = np.quantile(f1_s, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Estimate(float(f1), float(low), float(high), e.n)


def calibration(proba: np.ndarray, y: np.ndarray, bins: int = RELIABILITY_BINS) -> dict[str, Any]:
    """Expected calibration error over equal-width bins and the reliability curve's points."""
    proba, y = np.asarray(proba, dtype=np.float64), np.asarray(y, dtype=np.float64)
    which = np.minimum((proba * bins).astype(np.int64), bins - 1)
    n = np.bincount(which, minlength=bins)
    mean_p = np.bincount(which, weights=proba, minlength=bins)
    mean_y = np.bincount(which, weights=y, minlength=bins)
    curve = []
    ece = 0.0
    for b in range(bins):
        if n[b] == 0:
            continue
        mp, my = mean_p[b] / n[b], mean_y[b] / n[b]
        ece += n[b] / proba.size * abs(mp - my)
        curve.append(
            {"bin": b, "n": int(n[b]), "mean_probability": round(float(mp), 4), "observed_rate": round(float(my), 4)}
        )
    return {"n": int(proba.size), "ece": round(float(ece), 4), "bins": bins, "curve": curve}


def measure(root: Path, max_ece: float = MAX_ECE) -> dict[str, Any]:
    """Calibration of the project's model on its test split (the ``evaluate`` stage's inputs).

    Without them (no ``dvc repro`` yet) the section says so and CBPE's trust is unknown.
    """
    from churnops.core import paths

    model, test = root / paths.MODEL, root / paths.TEST_SET
    if not model.is_file() or not test.is_file():
        missing = paths.MODEL if not model.is_file() else paths.TEST_SET
        return {
            "measured": False,
            "trusted": None,
            "message": f"calibration not measured: no {missing} (run dvc repro); CBPE's figures are unchecked",
        }
    from churnops.core.io import read_parquet
    from churnops.core.schema import FEATURE_NAMES, LABEL
    from churnops.pipeline.scorer import Scorer, md5_bytes

    data = model.read_bytes()
    scorer = Scorer.from_bytes(data, source=str(model))
    frame = read_parquet(test, columns=[*FEATURE_NAMES, LABEL])
    out = calibration(scorer.predict_proba_frame(frame), frame[LABEL].to_numpy())
    trusted = out["ece"] <= max_ece
    out.update(
        measured=True,
        model_version=md5_bytes(data),
        max_ece=max_ece,
        trusted=trusted,
        message=f"calibration on the test set: ECE {out['ece']:.3f} "
        + (
            f"<= {max_ece:g}: CBPE can be trusted under covariate shift"
            if trusted
            else f"> {max_ece:g}: too poor to trust CBPE's estimate"
        ),
    )
    return out
