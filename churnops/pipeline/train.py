"""Train the churn classifier and gate it.

Both models see the same inputs: the numeric features standardised, the categorical ones
one-hot over the schema's categories. ``logreg`` (the default) is :class:`LogregPipeline`,
plain numpy: importing scikit-learn and SciPy costs a `train` run about a second, more than
its fit at the default size, and ``ColumnTransformer`` copies the data twice over. ``hgb``
is a scikit-learn ``Pipeline`` (:func:`hgb_pipeline`). The model that is gated is the model
that ships; :mod:`churnops.pipeline.export` turns it into the JSON file the scorer reads.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.errors import DataError, GateError
from churnops.core.schema import CATEGORICAL, CATEGORICAL_NAMES, LABEL, NUMERIC_NAMES
from churnops.pipeline import logreg
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


def standard_scaling(numeric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) per column of ``numeric`` (float64, column-contiguous), as ``StandardScaler`` fits them.

    The same formulas in the same order (a corrected two-pass variance; near-constant
    columns get scale 1), and each sum runs along one contiguous column, whose pairwise order
    is fixed by its length, so the bits equal scikit-learn's on every CPU.
    """
    n = float(numeric.shape[0])
    total = numeric.sum(axis=0)
    mean = total / n
    centred = numeric - mean
    correction = centred.sum(axis=0)
    centred **= 2
    unnormalised = centred.sum(axis=0)
    unnormalised -= correction**2 / n
    var = unnormalised / n
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0
    return mean, scale


def design(x: pd.DataFrame, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The encoded inputs of :func:`model_input` rows: scaled numerics, then one 0/1 column per category.

    One float64 array written in place (C order, the layout ``ColumnTransformer``'s output
    had, which the fit's block sums read): no per-part copies to stack.
    """
    widths = [len(f.categories) for f in CATEGORICAL]
    out = np.zeros((len(x), len(NUMERIC_NAMES) + sum(widths)), dtype=np.float64)
    for j, name in enumerate(NUMERIC_NAMES):
        col = out[:, j]
        np.subtract(x[name].to_numpy(np.float64), mean[j], out=col)
        col /= scale[j]
    rows = np.arange(len(x))
    offset = len(NUMERIC_NAMES)
    for f, width in zip(CATEGORICAL, widths, strict=True):
        out[rows, offset + x[f.name].to_numpy(np.intp)] = 1.0
        offset += width
    return out


@dataclass(frozen=True)
class LogregPipeline:
    """The fitted logistic-regression model: scaling statistics and coefficients (see the module docstring)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    n_iter: int

    @classmethod
    def fit(cls, x: pd.DataFrame, y: np.ndarray, C: float, max_iter: int) -> LogregPipeline:
        """Fit on :func:`model_input` rows and 0/1 labels; warn on stderr when Newton did not converge."""
        numeric = np.empty((len(x), len(NUMERIC_NAMES)), dtype=np.float64, order="F")
        for j, name in enumerate(NUMERIC_NAMES):
            numeric[:, j] = x[name].to_numpy(np.float64)
        mean, scale = standard_scaling(numeric)
        del numeric
        result = logreg.fit(design(x, mean, scale), np.asarray(y) == 1, C, max_iter)
        if not result.converged:
            warnings.warn(
                f"logistic regression did not converge in {max_iter} Newton steps (train.logreg.max_iter)",
                logreg.ConvergenceWarning,
                stacklevel=2,
            )
        return cls(mean, scale, result.coef, result.intercept, result.n_iter)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """``(n, 2)`` probabilities of no churn and churn, as a scikit-learn classifier returns them."""
        p = logreg.sigmoid(logreg.decision(design(x, self.mean, self.scale), self.coef, self.intercept))
        return np.column_stack([1.0 - p, p])


def hgb_pipeline(params: TrainParams) -> Pipeline:
    """The unfitted scikit-learn pipeline for ``train.model: hgb``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
        monotonic_cst=[MONOTONIC.get(n, 0) for n in NUMERIC_NAMES] + [0] * sum(len(f.categories) for f in CATEGORICAL),
        random_state=params.seed,
    )
    return Pipeline([("pre", pre), ("clf", clf)])


@dataclass(frozen=True)
class TrainResult:
    """A fitted pipeline and its gate verdict on the validation split."""

    pipeline: LogregPipeline | Pipeline
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
    from churnops.pipeline.classification import Counts
    from churnops.pipeline.prepare import split

    if frame[LABEL].nunique() < 2:
        raise DataError("training data holds a single class; cannot train a classifier")
    fit_part, val_part = split(frame, params.validation_fraction, params.seed, what="train.validation_fraction")
    x_fit, y_fit = model_input(fit_part), fit_part[LABEL].to_numpy()
    x_val, y_val = model_input(val_part), val_part[LABEL].to_numpy()
    del fit_part, val_part  # at 5M rows every copy counts against the 1 GB budget
    pipeline: LogregPipeline | Pipeline
    if params.model == "logreg":
        # Not sklearn's LogisticRegression: its solvers' last bits depend on the CPU (see churnops.pipeline.logreg).
        pipeline = LogregPipeline.fit(x_fit, y_fit, params.logreg.C, params.logreg.max_iter)
        proba = pipeline.predict_proba(x_val)[:, 1]
    else:
        from threadpoolctl import threadpool_limits

        pipeline = hgb_pipeline(params)
        # One OpenMP thread: a threaded reduction sums in a core-count-dependent order,
        # which changes the last bits of the model and so its md5.
        with threadpool_limits(limits=1):
            pipeline.fit(x_fit, y_fit)
            proba = pipeline.predict_proba(x_val)[:, 1]
    f1 = Counts.of(y_val, proba >= params.threshold).f1
    return TrainResult(pipeline, f1, params.gate_f1, len(y_fit), len(y_val))


def check_gate(result: TrainResult) -> None:
    """Raise :class:`GateError` with the one-line verdict when the gate fails."""
    if not result.passed:
        raise GateError(result.gate_message())
