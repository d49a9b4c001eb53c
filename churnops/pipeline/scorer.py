"""The model document (``churnops-model/1``) and its scorer: what the service imports.

A model file is plain JSON: numbers only, so loading a model can never execute code
(unlike a pickle), and its bytes (:func:`model_bytes`) are a pure function of the fitted
parameters. :class:`Scorer` evaluates it with numpy (batches) or plain Python (one row) and
matches scikit-learn's probabilities to within 1e-9 (``tests/pipeline/test_model.py``). It imports neither
scikit-learn nor pandas at module level: the service starts without them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from churnops.core.errors import DataError, ModelIntegrityError
from churnops.core.schema import CATEGORICAL_NAMES, FEATURE_NAMES, NUMERIC_NAMES

if TYPE_CHECKING:
    import pandas as pd

MODEL_FORMAT = "churnops-model/1"


def model_bytes(doc: Mapping[str, Any]) -> bytes:
    """Canonical bytes of a model document (what is written, hashed and served)."""
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()


def md5_bytes(data: bytes) -> str:
    """The md5 DVC records for a file holding ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class Scorer:
    """Evaluates an exported model.

    Construct with :meth:`from_bytes` / :meth:`from_file`; pass ``expected_md5`` to
    refuse bytes that do not match the hash ``dvc.lock`` records.

    Encoding (scaled numerics, then one one-hot block per categorical) is written once, in
    :meth:`_encode`, for frames, records and columns alike. :meth:`predict_proba_one` is the scalar
    twin of the same arithmetic in plain Python, because numpy's per-call overhead would
    dominate a one-row request; the tests hold it to the batch path to 1e-9.
    """

    def __init__(self, doc: Mapping[str, Any]) -> None:
        if doc.get("format") != MODEL_FORMAT:
            raise ModelIntegrityError(f"unsupported model format {doc.get('format')!r}")
        if list(doc["features"]) != list(FEATURE_NAMES):
            raise ModelIntegrityError(f"model features {doc['features']} differ from the schema")
        self.doc = doc
        self.kind: str = doc["kind"]
        self.threshold: float = float(doc["threshold"])
        self._mean = [float(v) for v in doc["numeric"]["mean"]]
        self._scale = [float(v) for v in doc["numeric"]["scale"]]
        self._categories: list[list[str]] = doc["categorical"]["categories"]
        self._cat_index = [{c: i for i, c in enumerate(cats)} for cats in self._categories]
        offsets = np.cumsum([len(NUMERIC_NAMES)] + [len(c) for c in self._categories])[:-1]
        self._cat_offsets = [int(o) for o in offsets]
        self.n_inputs = len(NUMERIC_NAMES) + sum(len(c) for c in self._categories)
        if self.kind == "logreg":
            self._coef = np.asarray(doc["logreg"]["coef"], dtype=np.float64)
            self._intercept = float(doc["logreg"]["intercept"])
            # The one-row path's operands, resolved once as plain Python floats (numpy's call
            # overhead dominates one row): each numeric column's name, mean, scale and weight,
            # and each category's weight by value. Same arithmetic, in the same order, as the
            # indexed form: the same bits.
            coef = [float(c) for c in self._coef]
            self._py_numeric = [(name, self._mean[j], self._scale[j], coef[j]) for j, name in enumerate(NUMERIC_NAMES)]
            self._py_cat_weight = [
                (name, {c: coef[self._cat_offsets[k] + i] for c, i in self._cat_index[k].items()})
                for k, name in enumerate(CATEGORICAL_NAMES)
            ]
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

    def _encode(self, numeric: Sequence[np.ndarray], codes: Sequence[np.ndarray]) -> np.ndarray:
        """Scaled numerics followed by one-hot categories, as training encodes them.

        ``numeric`` holds one float64 column per numeric feature, ``codes`` one column of
        category indexes (into the model's lists) per categorical feature.
        """
        n = len(numeric[0]) if numeric else 0
        x = np.zeros((n, self.n_inputs), dtype=np.float64)
        for j, col in enumerate(numeric):
            x[:, j] = (col - self._mean[j]) / self._scale[j]
        rows = np.arange(n)
        for k, col in enumerate(codes):
            x[rows, self._cat_offsets[k] + col] = 1.0
        return x

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's input matrix for a DataFrame holding the schema's columns.

        Raises:
            DataError: a categorical value is not one of the model's categories.
        """
        numeric = [frame[name].to_numpy(np.float64) for name in NUMERIC_NAMES]
        codes = [
            category_codes(frame[name], cats, "the model's")
            for name, cats in zip(CATEGORICAL_NAMES, self._categories, strict=True)
        ]
        return self._encode(numeric, codes)

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The model's input matrix for validated feature dicts."""
        return self.encode_columns({name: [r[name] for r in records] for name in FEATURE_NAMES})

    def encode_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """The model's input matrix for validated feature columns (name -> one value per row).

        The service's batch validator already holds its rows as columns, so a batch is
        scored from them with no second pass over per-row dicts.
        """
        numeric = [np.asarray(columns[name], dtype=np.float64) for name in NUMERIC_NAMES]
        codes = [
            np.fromiter(map(idx.__getitem__, columns[name]), np.intp, len(columns[name]))
            for name, idx in zip(CATEGORICAL_NAMES, self._cat_index, strict=True)
        ]
        return self._encode(numeric, codes)

    # -- prediction

    def _raw_matrix(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "logreg":
            raw: np.ndarray = x @ self._coef + self._intercept
            return raw
        n, width = x.shape
        raw = np.full(n, self._baseline, dtype=np.float64)
        flat = np.ascontiguousarray(x).ravel()
        row_start = np.arange(n, dtype=np.intp) * width
        # No NaN routing: the schema refuses missing values before any row reaches a model.
        for feature, threshold, kids, value, depth in self._trees:
            # Leaves are their own children, so every row takes exactly `depth` steps with no
            # masking: a row that reached its leaf stays there. `take` on flat arrays is the
            # cheapest gather numpy has; kids[2 * node + 1] is the right child.
            node = np.zeros(n, dtype=np.intp)
            for _ in range(depth):
                go_right = flat.take(row_start + feature.take(node)) > threshold.take(node)
                node = kids.take(2 * node + go_right)
            raw += value.take(node)
        return raw

    def predict_proba_matrix(self, x: np.ndarray) -> np.ndarray:
        """Churn probabilities for already-encoded rows."""
        proba: np.ndarray = 1.0 / (1.0 + np.exp(-self._raw_matrix(x)))
        return proba

    def predict_proba_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Churn probabilities for a DataFrame holding the schema's columns."""
        return self.predict_proba_matrix(self.encode_frame(frame))

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Churn probabilities for validated feature dicts (vectorised)."""
        return self.predict_proba_matrix(self.encode_records(records))

    def predict_proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Churn probabilities for validated feature columns (see :meth:`encode_columns`)."""
        return self.predict_proba_matrix(self.encode_columns(columns))

    def predict_proba_one(self, record: Mapping[str, Any]) -> float:
        """Churn probability of one validated feature dict, in plain Python (~µs)."""
        if self.kind == "logreg":
            numeric = 0.0
            for name, mean, scale, w in self._py_numeric:
                numeric += w * ((float(record[name]) - mean) / scale)
            hot = 0.0
            for name, weight in self._py_cat_weight:
                hot += weight[record[name]]
            raw = numeric + hot + self._intercept
        else:
            x = [(float(record[name]) - self._mean[j]) / self._scale[j] for j, name in enumerate(NUMERIC_NAMES)]
            hot_index = [
                self._cat_offsets[k] + self._cat_index[k][record[name]] for k, name in enumerate(CATEGORICAL_NAMES)
            ]
            full = x + [0.0] * (self.n_inputs - len(x))
            for h in hot_index:
                full[h] = 1.0
            raw = self._baseline
            for feature, threshold, left, right, leaf, value in self._py_trees:
                node = 0
                while not leaf[node]:
                    node = left[node] if full[feature[node]] <= threshold[node] else right[node]
                raw += value[node]
        return 1.0 / (1.0 + math.exp(-raw))


def _vector_tree(t: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Arrays of one exported tree for batch traversal.

    Returns ``(feature, threshold, kids, value, depth)`` where ``kids`` holds the left and
    right child of node ``i`` at ``2i`` and ``2i + 1``, each leaf being its own child, and
    ``depth`` is the longest root-to-leaf path.
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
        np.column_stack([left, right]).ravel(),
        np.asarray(t["value"], dtype=np.float64),
        depth,
    )


def category_codes(col: pd.Series, categories: Sequence[str], whose: str) -> np.ndarray:
    """Index of each value of ``col`` in ``categories``.

    A categorical column over exactly these categories already holds the codes; anything
    else is matched as text.

    Raises:
        DataError: a value is missing or not one of ``categories`` (``whose`` names the list).
    """
    import pandas as pd

    categories = list(categories)
    if isinstance(col.dtype, pd.CategoricalDtype) and list(col.cat.categories) == categories:
        codes: np.ndarray = col.cat.codes.to_numpy().astype(np.intp)
    else:
        codes = pd.Index(categories).get_indexer(col.astype("string")).astype(np.intp)
    if (codes < 0).any():
        raise DataError(f"{col.name}: values outside {whose} categories {categories}")
    return codes
