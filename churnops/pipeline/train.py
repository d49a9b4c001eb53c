"""Train the churn classifier and gate it.

Training uses a scikit-learn ``Pipeline``: a ``ColumnTransformer`` (standard scaling of
the numeric features, one-hot encoding over the schema's categories) followed by the
classifier that ``train.model`` selects. The model that is gated is the model that ships;
:mod:`churnops.pipeline.export` turns it into the JSON file the scorer reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.errors import DataError, GateError
from churnops.core.schema import CATEGORICAL, CATEGORICAL_NAMES, LABEL, NUMERIC_NAMES
from churnops.pipeline.scorer import category_codes

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from churnops.core.params import TrainParams

MONOTONIC: dict[str, int] = {"tenure_months": -1, "num_complaints": 1, "avg_session_minutes": -1}
"""Known directions of risk (+1: more means likelier churn). Gradient boosting is held to
them, so that, e.g., a customer with one more complaint never looks safer; a linear model
learns the signs from the data and the directional tests check them."""


def model_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The pipeline's input: the schema's features, numerics as float64, categories as codes.

    Widening numerics first makes the scaler compute in float64, which :class:`Scorer`
    mirrors. Categories become their index in the schema's category list, so the
    one-hot encoder works on small integers: on strings it spends seconds per million
    rows converting them to Python objects.

    Raises:
        DataError: a value is not one of the schema's categories.
    """
    import pandas as pd

    out = pd.DataFrame({name: frame[name].to_numpy(np.float64) for name in NUMERIC_NAMES})
    for f in CATEGORICAL:
        out[f.name] = category_codes(frame[f.name], list(f.categories), "the schema's").astype(np.int8)
    return out


def build_pipeline(params: TrainParams) -> Pipeline:
    """The unfitted scikit-learn pipeline that ``params.model`` selects."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from churnops.pipeline.logreg import NewtonLogisticRegression

    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), list(NUMERIC_NAMES)),
            (
                "cat",
                OneHotEncoder(
                    categories=[list(range(len(f.categories))) for f in CATEGORICAL],
                    handle_unknown="error",
                    sparse_output=False,
                    dtype=np.float32,  # 0/1 are exact; halves the one-hot block before hstack
                ),
                list(CATEGORICAL_NAMES),
            ),
        ],
        sparse_threshold=0.0,
    )
    if params.model == "logreg":
        # Not sklearn's LogisticRegression: its solvers' last bits depend on the CPU (see churnops.pipeline.logreg).
        clf = NewtonLogisticRegression(C=params.logreg.C, max_iter=params.logreg.max_iter)
    else:
        h = params.hgb
        clf = HistGradientBoostingClassifier(
            learning_rate=h.learning_rate,
            max_iter=h.max_iter,
            max_leaf_nodes=h.max_leaf_nodes,
            max_depth=h.max_depth,
            min_samples_leaf=h.min_samples_leaf,
            l2_regularization=h.l2_regularization,
            early_stopping=False,  # an internal random split would make max_iter a suggestion
            # One entry per pipeline output column: the numerics come first, then one-hots.
            monotonic_cst=[MONOTONIC.get(n, 0) for n in NUMERIC_NAMES]
            + [0] * sum(len(f.categories) for f in CATEGORICAL),
            random_state=params.seed,
        )
    return Pipeline([("pre", pre), ("clf", clf)])


@dataclass(frozen=True)
class TrainResult:
    """A fitted pipeline and its gate verdict on the validation split."""

    pipeline: Pipeline
    f1: float
    gate_f1: float
    n_train: int
    n_validation: int

    @property
    def passed(self) -> bool:
        return self.f1 >= self.gate_f1

    def verdict(self) -> dict[str, Any]:
        """The gate's figures, for ``metrics/train.json``."""
        return {
            "gate": {"f1": round(self.f1, 6), "gate_f1": self.gate_f1, "passed": self.passed},
            "n_train": self.n_train,
            "n_validation": self.n_validation,
        }

    def gate_message(self) -> str:
        op = ">=" if self.passed else "<"
        word = "passed" if self.passed else "failed"
        return f"gate {word}: f1={self.f1:.3f} {op} gate_f1={self.gate_f1:.3f}"


def train(frame: pd.DataFrame, params: TrainParams) -> TrainResult:
    """Fit on the training data less a seeded, stratified validation split, and score it.

    The model that is gated is the model that ships: it is not refitted afterwards.

    Raises:
        DataError: too few rows, or a single class, to train and validate.
    """
    from threadpoolctl import threadpool_limits

    from churnops.pipeline.classification import Counts
    from churnops.pipeline.prepare import split

    if frame[LABEL].nunique() < 2:
        raise DataError("training data holds a single class; cannot train a classifier")
    fit_part, val_part = split(frame, params.validation_fraction, params.seed, what="train.validation_fraction")
    x_fit, y_fit = model_input(fit_part), fit_part[LABEL].to_numpy()
    x_val, y_val = model_input(val_part), val_part[LABEL].to_numpy()
    del fit_part, val_part  # at 5M rows every copy counts against the 1 GB budget
    pipeline = build_pipeline(params)
    # One BLAS/OpenMP thread: a threaded reduction sums in a core-count-dependent order,
    # which changes the last bits of the coefficients and so the model's md5.
    with threadpool_limits(limits=1):
        pipeline.fit(x_fit, y_fit)
        proba = pipeline.predict_proba(x_val)[:, 1]
    f1 = Counts.of(y_val, proba >= params.threshold).f1
    return TrainResult(pipeline, f1, params.gate_f1, len(y_fit), len(y_val))


def check_gate(result: TrainResult) -> None:
    """Raise :class:`GateError` with the one-line verdict when the gate fails."""
    if not result.passed:
        raise GateError(result.gate_message())
