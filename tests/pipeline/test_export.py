"""The export reads scikit-learn internals: pinned to the one release it is written for."""

from __future__ import annotations

import json
from importlib.metadata import version

import numpy as np
import pytest

from churnops.core.schema import LABEL
from churnops.pipeline.export import SKLEARN_VERSION, export_model
from churnops.pipeline.scorer import Scorer, model_bytes
from churnops.pipeline.train import model_input, train
from tests.utils.factories import clean_customers, train_params


def test_the_installed_scikit_learn_is_the_release_the_export_reads() -> None:
    """A new scikit-learn may rename ``_predictors`` or ``_baseline_prediction``: re-read them, then move the pin."""
    assert version("scikit-learn") == SKLEARN_VERSION


@pytest.mark.parametrize("model", ["logreg", "hgb"])
def test_an_exported_model_scores_like_the_fitted_pipeline(model: str) -> None:
    data = clean_customers(3000, seed=5)
    params = train_params(model=model, hgb={**train_params().hgb.model_dump(), "max_iter": 20})
    result = train(data, params)
    scorer = Scorer(json.loads(model_bytes(export_model(result.pipeline, params.threshold))))
    expected = result.pipeline.predict_proba(model_input(data.head(400)))[:, 1]
    got = scorer.predict_proba_frame(data.head(400).drop(columns=LABEL))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert expected.std() > 0.01  # a real model, not a constant
