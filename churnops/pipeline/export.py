"""Export a fitted model to the JSON model document.

This is the one module that reads scikit-learn's fitted attributes, private ones included
(``HistGradientBoostingClassifier._predictors`` and ``_baseline_prediction``: scikit-learn
has no public API for a fitted tree's nodes). Private attributes may change in any release,
so :data:`SKLEARN_VERSION` names the version this code is written for, the one
``requirements.lock`` pins; ``tests/pipeline/test_export.py`` fails on any other, and checks
the exported document scores like scikit-learn itself. Upgrading scikit-learn means
re-reading these attributes, then moving the pin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from churnops.core.schema import CATEGORICAL, CATEGORICAL_NAMES, FEATURE_NAMES, NUMERIC_NAMES
from churnops.pipeline.scorer import MODEL_FORMAT

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from churnops.pipeline.train import LogregPipeline

SKLEARN_VERSION = "1.9.1"
"""The scikit-learn release whose private attributes :func:`export_model` reads."""


def export_model(pipeline: LogregPipeline | Pipeline, threshold: float) -> dict[str, Any]:
    """Turn a fitted model, either kind :func:`~churnops.pipeline.train.train` returns, into the model document.

    Raises:
        TypeError: the classifier is not one of the two :func:`~churnops.pipeline.train.train` makes.
    """
    from churnops.pipeline.train import LogregPipeline

    if isinstance(pipeline, LogregPipeline):
        doc = _document(threshold, pipeline.mean, pipeline.scale)
        doc["kind"] = "logreg"
        doc["logreg"] = {"coef": [float(v) for v in pipeline.coef], "intercept": float(pipeline.intercept)}
        return doc

    from sklearn.ensemble import HistGradientBoostingClassifier

    pre = pipeline.named_steps["pre"]
    scaler = pre.named_transformers_["num"]
    clf = pipeline.named_steps["clf"]
    if not isinstance(clf, HistGradientBoostingClassifier):  # pragma: no cover - train only makes the two
        raise TypeError(f"cannot export {type(clf).__name__}")
    doc = _document(threshold, scaler.mean_, scaler.scale_)
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
                # Kept in the format (the model bytes stay what they were); the scorer
                # never reads it, since the schema lets no missing value through.
                "missing_left": nodes["missing_go_to_left"].astype(bool).tolist(),
                "left": nodes["left"].tolist(),
                "right": nodes["right"].tolist(),
                "leaf": nodes["is_leaf"].astype(bool).tolist(),
                "value": nodes["value"].tolist(),
            }
        )
    doc["hgb"] = {"baseline": float(clf._baseline_prediction.ravel()[0]), "trees": trees}
    return doc


def _document(threshold: float, mean: Any, scale: Any) -> dict[str, Any]:
    """The parts both kinds share: features, threshold, the scaling and the categories (the schema's, in order)."""
    return {
        "format": MODEL_FORMAT,
        "features": list(FEATURE_NAMES),
        "threshold": threshold,
        "numeric": {
            "names": list(NUMERIC_NAMES),
            "mean": [float(v) for v in mean],
            "scale": [float(v) for v in scale],
        },
        "categorical": {
            "names": list(CATEGORICAL_NAMES),
            "categories": [list(f.categories) for f in CATEGORICAL],
        },
    }
