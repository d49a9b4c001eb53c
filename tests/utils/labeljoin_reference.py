"""The label join as first written: the whole log per customer in memory, every line parsed.

An oracle for :func:`churnops.pipeline.labeljoin.join`, which streams and parses only what it
must: on any log and labels, both give the same rows, the same figures and the same unmatched
labels by reason (tests/pipeline/test_labeljoin_stream.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churnops.core.logformat import CUSTOMER_ID, MODEL_VERSION, Prediction, parse_line
from churnops.core.schema import FEATURE_NAMES, LABEL
from churnops.pipeline.labeljoin import UNMATCHED_LATER, UNMATCHED_NONE, UNMATCHED_OLDER, Label

if TYPE_CHECKING:
    import pandas as pd

    from churnops.pipeline.scorer import Scorer


@dataclass(frozen=True, slots=True)
class Logged:
    order: tuple[str, int]
    model_version: str | None
    probability: float | None
    churn: bool | None
    features: dict[str, Any]


def read_log(lines: Iterable[bytes]) -> dict[str, list[Logged]]:
    """Every prediction that names a customer and has features, per customer, in log order."""
    by_id: dict[str, list[Logged]] = {}
    for position, line in enumerate(lines, 1):
        rec = parse_line(line)
        if not isinstance(rec, Prediction) or rec.customer_id is None or rec.features is None:
            continue
        p = rec.churn_probability
        by_id.setdefault(rec.customer_id, []).append(
            Logged(
                (rec.ts or "", position),
                rec.model_version,
                float(p) if type(p) in (int, float) and rec.model_version else None,
                rec.churn if type(rec.churn) is bool else None,
                rec.features,
            )
        )
    return by_id


def _newest(logged: list[Logged], observed_at: str | None) -> Logged | None:
    eligible = [x for x in logged if observed_at is None or not x.order[0] or x.order[0] <= observed_at]
    return max(eligible, key=lambda x: x.order) if eligible else None


def unmatched(labels: Iterable[Label], by_id: dict[str, list[Logged]]) -> tuple[Counter[str], str | None]:
    """The unmatched labels by reason, and the oldest ``ts`` of a prediction naming a customer."""
    stamped = [x.order[0] for logged in by_id.values() for x in logged if x.order[0]]
    oldest = min(stamped) if stamped else None
    reasons: Counter[str] = Counter()
    for label in labels:
        logged = by_id.get(label.customer_id, [])
        if _newest(logged, label.observed_at) is not None:
            continue
        if label.observed_at is not None and oldest is not None and label.observed_at < oldest:
            reasons[UNMATCHED_OLDER] += 1
        elif logged:
            reasons[UNMATCHED_LATER] += 1
        else:
            reasons[UNMATCHED_NONE] += 1
    return reasons, oldest


def join(
    labels: Iterable[Label],
    by_id: dict[str, list[Logged]],
    scorer: Scorer | None = None,
    version: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """The joined rows (sorted by the prediction's order) and the number of unmatched labels."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    unscored: list[int] = []
    n_unmatched = 0
    for label in labels:
        hit = _newest(by_id.get(label.customer_id, []), label.observed_at)
        if hit is None:
            n_unmatched += 1
            continue
        row = {name: hit.features.get(name) for name in FEATURE_NAMES}
        row.update({LABEL: label.churn, CUSTOMER_ID: label.customer_id, "order_ts": hit.order[0],
                    "order_pos": hit.order[1], MODEL_VERSION: hit.model_version,
                    "churn_probability": hit.probability, "predicted": hit.churn})  # fmt: skip
        if hit.probability is None or hit.churn is None:
            unscored.append(len(rows))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*FEATURE_NAMES, LABEL, CUSTOMER_ID, "order_ts", "order_pos",
                                        MODEL_VERSION, "churn_probability", "predicted"])  # fmt: skip
    if unscored and scorer is not None:
        records = [{n: rows[i][n] for n in FEATURE_NAMES} for i in unscored]
        probs = scorer.predict_proba_records(records)
        frame["churn_probability"] = frame["churn_probability"].astype(float)
        frame["predicted"] = frame["predicted"].astype(object)
        frame.loc[unscored, "churn_probability"] = probs
        frame.loc[unscored, "predicted"] = probs >= scorer.threshold
        frame.loc[unscored, MODEL_VERSION] = version
    frame = frame.sort_values(["order_ts", "order_pos"], kind="stable").reset_index(drop=True)
    frame["churn_probability"] = frame["churn_probability"].astype(float)
    return frame, n_unmatched
