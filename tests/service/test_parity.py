"""The service answers the scorer's probabilities (the scorer's own parity with scikit-learn: tests/model)."""

from __future__ import annotations

import numpy as np
import pytest

from churnops.pipeline.train import model_input
from tests.utils.factories import labelled_customers, records
from tests.utils.service import Trained

TOL = 1e-6


def test_the_service_serves_the_scorer_probabilities(client, logreg_model: Trained) -> None:
    test = labelled_customers(50, seed=7)
    rows = records(test)
    expected = logreg_model.result.pipeline.predict_proba(model_input(test))[:, 1]
    got = [p["churn_probability"] for p in client.post("/predict/batch", json={"items": rows}).json()["predictions"]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    single = client.post("/predict", json=rows[0]).json()["churn_probability"]
    assert single == pytest.approx(expected[0], abs=TOL)
