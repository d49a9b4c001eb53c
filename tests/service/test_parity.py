"""The JSON scorer the service runs agrees with scikit-learn, for every model train.model can select."""

from __future__ import annotations

import numpy as np
import pytest

from churnops.pipeline.model import Scorer, model_input
from tests.service.conftest import Trained, customers, records

TOL = 1e-6


@pytest.mark.parametrize("model_fixture", ["logreg_model", "hgb_model"])
def test_scorer_matches_sklearn_on_a_test_set(model_fixture: str, request: pytest.FixtureRequest) -> None:
    trained: Trained = request.getfixturevalue(model_fixture)
    test = customers(2000, seed=99)  # unseen rows
    expected = trained.result.pipeline.predict_proba(model_input(test))[:, 1]
    scorer = Scorer.from_bytes(trained.data, expected_md5=trained.md5)
    assert scorer.kind == trained.params.model
    rows = records(test)

    batch = scorer.predict_proba_records(rows)
    one = np.array([scorer.predict_proba_one(r) for r in rows])
    for got in (batch, one):
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
        # Decisions agree except where sklearn's probability sits within TOL of the threshold.
        flips = (got >= scorer.threshold) != (expected >= scorer.threshold)
        assert not (flips & (np.abs(expected - scorer.threshold) > TOL)).any()
    assert expected.std() > 0.05  # a real model, not a constant


def test_the_service_serves_the_scorer_probabilities(client, logreg_model: Trained) -> None:
    test = customers(50, seed=7)
    rows = records(test)
    expected = logreg_model.result.pipeline.predict_proba(model_input(test))[:, 1]
    got = [p["churn_probability"] for p in client.post("/predict/batch", json={"items": rows}).json()["predictions"]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    single = client.post("/predict", json=rows[0]).json()["churn_probability"]
    assert single == pytest.approx(expected[0], abs=TOL)
