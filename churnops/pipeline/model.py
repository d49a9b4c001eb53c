"""Train the churn classifier, gate it, and export it to a JSON model file.

Training uses a scikit-learn ``Pipeline``: a ``ColumnTransformer`` (standard scaling of
the numeric features, one-hot encoding over the schema's categories) followed by the
classifier that ``train.model`` selects. The fitted pipeline is then exported to plain
JSON: numbers only, so loading a model can never execute code (unlike a pickle), and
the bytes are a pure function of the fitted parameters. :class:`Scorer` evaluates that
JSON with numpy and matches scikit-learn's probabilities to within 1e-9.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.errors import DataError, GateError, ModelIntegrityError
from churnops.core.schema import CATEGORICAL, CATEGORICAL_NAMES, FEATURE_NAMES, LABEL, NUMERIC_NAMES

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from churnops.core.params import TrainParams

MODEL_FORMAT = "churnops-model/1"

MONOTONIC: dict[str, int] = {"tenure_months": -1, "num_complaints": 1, "avg_session_minutes": -1}
"""Known directions of risk (+1: more means likelier churn). Gradient boosting is held to
them, so that, e.g., a customer with one more complaint never looks safer; a linear model
learns the signs from the data and the directional tests check them."""


# --------------------------------------------------------------------------- training


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
    from sklearn.metrics import f1_score
    from threadpoolctl import threadpool_limits

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
    f1 = float(f1_score(y_val, proba >= params.threshold))
    return TrainResult(pipeline, f1, params.gate_f1, len(y_fit), len(y_val))


def check_gate(result: TrainResult) -> None:
    """Raise :class:`GateError` with the one-line verdict when the gate fails."""
    if not result.passed:
        raise GateError(result.gate_message())


# --------------------------------------------------------------------------- export


def export_model(pipeline: Pipeline, threshold: float) -> dict[str, Any]:
    """Turn a fitted pipeline into the JSON-able model document."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from churnops.pipeline.logreg import NewtonLogisticRegression

    pre = pipeline.named_steps["pre"]
    scaler = pre.named_transformers_["num"]
    encoder = pre.named_transformers_["cat"]
    clf = pipeline.named_steps["clf"]
    doc: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "features": list(FEATURE_NAMES),
        "threshold": threshold,
        "numeric": {
            "names": list(NUMERIC_NAMES),
            "mean": [float(v) for v in scaler.mean_],
            "scale": [float(v) for v in scaler.scale_],
        },
        "categorical": {
            "names": list(CATEGORICAL_NAMES),
            # The encoder saw schema codes 0..k-1; the file records the category names.
            "categories": [
                [f.categories[int(code)] for code in cats]
                for f, cats in zip(CATEGORICAL, encoder.categories_, strict=True)
            ],
        },
    }
    if isinstance(clf, NewtonLogisticRegression):
        doc["kind"] = "logreg"
        doc["logreg"] = {"coef": [float(v) for v in clf.coef_[0]], "intercept": float(clf.intercept_[0])}
    elif isinstance(clf, HistGradientBoostingClassifier):
        doc["kind"] = "hgb"
        trees = []
        for iteration in clf._predictors:  # one TreePredictor per iteration for a binary task
            nodes = iteration[0].nodes
            if nodes["is_categorical"].any():  # pragma: no cover - inputs are one-hot floats
                raise ValueError("categorical splits are not exportable")
            trees.append(
                {
                    "feature": nodes["feature_idx"].tolist(),
                    "threshold": nodes["num_threshold"].tolist(),
                    "missing_left": nodes["missing_go_to_left"].astype(bool).tolist(),
                    "left": nodes["left"].tolist(),
                    "right": nodes["right"].tolist(),
                    "leaf": nodes["is_leaf"].astype(bool).tolist(),
                    "value": nodes["value"].tolist(),
                }
            )
        doc["hgb"] = {"baseline": float(clf._baseline_prediction.ravel()[0]), "trees": trees}
    else:  # pragma: no cover - build_pipeline only makes the two above
        raise TypeError(f"cannot export {type(clf).__name__}")
    return doc


def model_bytes(doc: Mapping[str, Any]) -> bytes:
    """Canonical bytes of a model document (what is written, hashed and served)."""
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- scoring


class Scorer:
    """Evaluates an exported model with numpy (batches) or plain Python (one row).

    Construct with :meth:`from_bytes` / :meth:`from_file`; pass ``expected_md5`` to
    refuse bytes that do not match the hash ``dvc.lock`` records.
    """

    def __init__(self, doc: Mapping[str, Any]) -> None:
        if doc.get("format") != MODEL_FORMAT:
            raise ModelIntegrityError(f"unsupported model format {doc.get('format')!r}")
        if list(doc["features"]) != list(FEATURE_NAMES):
            raise ModelIntegrityError(f"model features {doc['features']} differ from the schema")
        self.doc = doc
        self.kind: str = doc["kind"]
        self.threshold: float = float(doc["threshold"])
        self._mean = np.asarray(doc["numeric"]["mean"], dtype=np.float64)
        self._scale = np.asarray(doc["numeric"]["scale"], dtype=np.float64)
        self._categories: list[list[str]] = doc["categorical"]["categories"]
        self._cat_index = [{c: i for i, c in enumerate(cats)} for cats in self._categories]
        self._cat_offsets = list(np.cumsum([len(NUMERIC_NAMES)] + [len(c) for c in self._categories])[:-1])
        self.n_inputs = len(NUMERIC_NAMES) + sum(len(c) for c in self._categories)
        if self.kind == "logreg":
            self._coef = np.asarray(doc["logreg"]["coef"], dtype=np.float64)
            self._intercept = float(doc["logreg"]["intercept"])
            # Plain-Python copies for the one-row path, where numpy's call overhead dominates.
            self._py_coef = [float(c) for c in self._coef]
        elif self.kind == "hgb":
            self._baseline = float(doc["hgb"]["baseline"])
            self._trees = [_vector_tree(t) for t in doc["hgb"]["trees"]]
            self._py_trees = [
                (t["feature"], t["threshold"], t["left"], t["right"], t["leaf"], t["value"])
                for t in doc["hgb"]["trees"]
            ]
        else:
            raise ModelIntegrityError(f"unknown model kind {self.kind!r}")

    # -- construction

    @classmethod
    def from_bytes(cls, data: bytes, expected_md5: str | None = None, source: str = "model") -> Scorer:
        """Verify (when ``expected_md5`` is given), then parse a model file's bytes.

        Raises:
            ModelIntegrityError: the hash differs, or the bytes are not a model document.
        """
        if expected_md5 is not None:
            actual = md5_bytes(data)
            if actual != expected_md5:
                raise ModelIntegrityError(
                    f"{source}: md5 {actual} does not match {expected_md5} recorded in dvc.lock; refusing to load"
                )
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelIntegrityError(f"{source}: not a model file: {err}") from None
        if not isinstance(doc, dict):
            raise ModelIntegrityError(f"{source}: not a model file")
        try:
            return cls(doc)
        except (KeyError, TypeError, ValueError) as err:
            raise ModelIntegrityError(f"{source}: malformed model document: {err!r}") from None

    @classmethod
    def from_file(cls, path: str | Path, expected_md5: str | None = None) -> Scorer:
        """Read, verify and parse a model file."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelIntegrityError(f"{path}: model file not found (run `dvc checkout` or `dvc repro`)") from None
        return cls.from_bytes(data, expected_md5, source=str(path))

    # -- encoding

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Scaled numerics followed by one-hot categories, as the sklearn pipeline does."""
        n = len(frame)
        x = np.zeros((n, self.n_inputs), dtype=np.float64)
        for j, name in enumerate(NUMERIC_NAMES):
            x[:, j] = (frame[name].to_numpy(np.float64) - self._mean[j]) / self._scale[j]
        for k, name in enumerate(CATEGORICAL_NAMES):
            codes = category_codes(frame[name], self._categories[k], "the model's")
            x[np.arange(n), self._cat_offsets[k] + codes] = 1.0
        return x

    # -- prediction

    def _raw_matrix(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "logreg":
            return x @ self._coef + self._intercept
        n, width = x.shape
        raw = np.full(n, self._baseline, dtype=np.float64)
        flat = np.ascontiguousarray(x).ravel()
        row_start = np.arange(n, dtype=np.intp) * width
        has_nan = bool(np.isnan(flat).any())
        for feature, threshold, missing_left, kids, value, depth in self._trees:
            # Leaves are their own children, so every row takes exactly `depth` steps with no
            # masking: a row that reached its leaf stays there. `take` on flat arrays is the
            # cheapest gather numpy has; kids[2 * node + 1] is the right child.
            node = np.zeros(n, dtype=np.intp)
            for _ in range(depth):
                v = flat.take(row_start + feature.take(node))
                go_right = v > threshold.take(node)
                if has_nan:  # NaN compares False: route it as the tree learned instead
                    go_right = np.where(np.isnan(v), ~missing_left.take(node), go_right)
                node = kids.take(2 * node + go_right)
            raw += value.take(node)
        return raw

    def predict_proba_matrix(self, x: np.ndarray) -> np.ndarray:
        """Churn probabilities for already-encoded rows."""
        raw = self._raw_matrix(x)
        return 1.0 / (1.0 + np.exp(-raw))

    def predict_proba_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Churn probabilities for a DataFrame holding the schema's columns."""
        return self.predict_proba_matrix(self.encode_frame(frame))

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Churn probabilities for validated feature dicts (vectorised)."""
        n = len(records)
        x = np.zeros((n, self.n_inputs), dtype=np.float64)
        for j, name in enumerate(NUMERIC_NAMES):
            x[:, j] = (np.fromiter((r[name] for r in records), np.float64, n) - self._mean[j]) / self._scale[j]
        for k, name in enumerate(CATEGORICAL_NAMES):
            idx = self._cat_index[k]
            codes = np.fromiter((idx[r[name]] for r in records), np.intp, n)
            x[np.arange(n), self._cat_offsets[k] + codes] = 1.0
        return self.predict_proba_matrix(x)

    def predict_proba_one(self, record: Mapping[str, Any]) -> float:
        """Churn probability of one validated feature dict, in plain Python (~µs)."""
        x = [(float(record[name]) - self._mean[j]) / self._scale[j] for j, name in enumerate(NUMERIC_NAMES)]
        x = [float(v) for v in x]
        hot = [self._cat_offsets[k] + self._cat_index[k][record[name]] for k, name in enumerate(CATEGORICAL_NAMES)]
        if self.kind == "logreg":
            coef = self._py_coef
            raw = sum(c * v for c, v in zip(coef, x, strict=False)) + sum(coef[h] for h in hot) + self._intercept
        else:
            full = x + [0.0] * (self.n_inputs - len(x))
            for h in hot:
                full[h] = 1.0
            raw = self._baseline
            for feature, threshold, left, right, leaf, value in self._py_trees:
                node = 0
                while not leaf[node]:
                    node = left[node] if full[feature[node]] <= threshold[node] else right[node]
                raw += value[node]
        return 1.0 / (1.0 + math.exp(-raw))


def _vector_tree(t: Mapping[str, Any]) -> tuple[Any, ...]:
    """Arrays of one exported tree for batch traversal.

    Returns ``(feature, threshold, missing_left, kids, value, depth)`` where ``kids`` holds
    the left and right child of node ``i`` at ``2i`` and ``2i + 1``, each leaf being its own
    child, and ``depth`` is the longest root-to-leaf path.
    """
    leaf = np.asarray(t["leaf"], dtype=bool)
    index = np.arange(leaf.size, dtype=np.intp)
    left = np.where(leaf, index, np.asarray(t["left"], dtype=np.intp))
    right = np.where(leaf, index, np.asarray(t["right"], dtype=np.intp))
    depth, stack = 0, [(0, 0)]
    while stack:
        i, d = stack.pop()
        if leaf[i]:
            depth = max(depth, d)
        else:
            stack += [(int(left[i]), d + 1), (int(right[i]), d + 1)]
    return (
        np.asarray(t["feature"], dtype=np.intp),
        np.asarray(t["threshold"], dtype=np.float64),
        np.asarray(t["missing_left"], dtype=bool),
        np.column_stack([left, right]).ravel(),
        np.asarray(t["value"], dtype=np.float64),
        depth,
    )


def category_codes(col: pd.Series, categories: list[str], whose: str) -> np.ndarray:
    """Index of each value of ``col`` in ``categories``.

    A categorical column over exactly these categories already holds the codes; anything
    else is matched as text.

    Raises:
        DataError: a value is missing or not one of ``categories`` (``whose`` names the list).
    """
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype) and list(col.cat.categories) == categories:
        codes = col.cat.codes.to_numpy().astype(np.intp)
    else:
        codes = pd.Index(categories).get_indexer(col.astype("string")).astype(np.intp)
    if (codes < 0).any():
        raise DataError(f"{col.name}: values outside {whose} categories {categories}")
    return codes
