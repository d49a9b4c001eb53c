"""Model behaviour: the gate, the exported file, and directional expectations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from churnops.core.errors import DataError, GateError, ModelIntegrityError
from churnops.core.schema import LABEL, numeric
from churnops.pipeline import logreg
from churnops.pipeline.export import export_model
from churnops.pipeline.scorer import Scorer, md5_bytes, model_bytes
from churnops.pipeline.train import LogregPipeline, check_gate, design, hgb_pipeline, model_input, train
from tests.utils.factories import clean_customers, train_params

MODELS = ["logreg", "hgb"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return clean_customers(6000, seed=11)


@pytest.fixture(scope="module", params=MODELS)
def trained(request: pytest.FixtureRequest, data: pd.DataFrame):
    params = train_params(model=request.param, hgb={**train_params().hgb.model_dump(), "max_iter": 30})
    result = train(data, params)
    return result, Scorer(json.loads(model_bytes(export_model(result.pipeline, params.threshold))))


def test_default_model_clears_the_default_gate_with_a_margin(trained) -> None:
    result, _ = trained
    assert result.passed
    assert result.f1 > 0.75  # gate_f1 is 0.70: a margin, not a coin toss
    assert result.n_train + result.n_validation == 6000 and result.n_validation == pytest.approx(1200, abs=2)


def test_a_gate_above_reach_fails_with_one_readable_line(data: pd.DataFrame) -> None:
    result = train(data, train_params(gate_f1=0.95))
    assert not result.passed
    with pytest.raises(GateError) as err:
        check_gate(result)
    assert str(err.value) == f"gate failed: f1={result.f1:.3f} < gate_f1=0.950"
    assert result.verdict()["gate"] == {"f1": round(result.f1, 6), "gate_f1": 0.95, "passed": False}


def test_training_is_deterministic_to_the_byte(data: pd.DataFrame) -> None:
    for model in MODELS:
        p = train_params(model=model, hgb={**train_params().hgb.model_dump(), "max_iter": 10})
        a = model_bytes(export_model(train(data, p).pipeline, 0.5))
        b = model_bytes(export_model(train(data, p).pipeline, 0.5))
        assert md5_bytes(a) == md5_bytes(b)


def test_single_class_training_data_is_a_data_error(data: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="single class"):
        train(data[data[LABEL] == 0], train_params())


def grid(base: dict, feature: str, values: list) -> list[dict]:
    return [{**base, feature: v} for v in values]


@pytest.mark.parametrize(
    ("feature", "direction"),
    [("num_complaints", +1), ("tenure_months", -1), ("avg_session_minutes", -1)],
)
def test_directional_risk_all_else_equal(trained, data: pd.DataFrame, feature: str, direction: int) -> None:
    """More complaints never lower the risk; longer tenure and sessions never raise it."""
    _, scorer = trained
    spec = numeric(feature)
    values = list(np.linspace(spec.low, min(spec.high, 100), 41))
    values = [int(v) for v in values] if spec.integer else [float(v) for v in values]
    for _, row in data.sample(60, random_state=0).iterrows():
        base = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.drop(LABEL).items()}
        risks = np.array([scorer.predict_proba_one(r) for r in grid(base, feature, values)])
        steps = np.diff(risks) * direction
        assert (steps >= -1e-12).all(), f"{feature} moved risk the wrong way for {base}"
    # And the direction is not vacuous: the feature matters.
    assert abs(risks[-1] - risks[0]) > 0.05


def test_plan_effect_basic_is_riskier_than_premium(trained) -> None:
    _, scorer = trained
    base = {"tenure_months": 12, "num_complaints": 1, "avg_session_minutes": 20.0, "region": "north"}
    assert scorer.predict_proba_one({**base, "plan": "basic"}) > scorer.predict_proba_one({**base, "plan": "premium"})


def test_scorer_paths_agree_with_each_other_and_with_sklearn(trained, data: pd.DataFrame) -> None:
    result, scorer = trained
    sample = data.head(500)
    expected = result.pipeline.predict_proba(model_input(sample))[:, 1]
    records = sample.drop(columns=LABEL).to_dict("records")
    np.testing.assert_allclose(scorer.predict_proba_frame(sample), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(scorer.predict_proba_records(records), expected, rtol=0, atol=1e-9)
    one = np.array([scorer.predict_proba_one(r) for r in records])
    np.testing.assert_allclose(one, expected, rtol=0, atol=1e-9)


def test_model_file_is_plain_json_and_verified_before_use(trained) -> None:
    _result, scorer = trained
    data = model_bytes(scorer.doc)
    good = md5_bytes(data)
    assert Scorer.from_bytes(data, expected_md5=good).kind == scorer.kind
    tampered = bytearray(data)
    i = data.index(b"threshold") + len(b'threshold":') + 2
    tampered[i] = ord("9") if tampered[i] != ord("9") else ord("8")
    with pytest.raises(ModelIntegrityError, match="does not match"):
        Scorer.from_bytes(bytes(tampered), expected_md5=good)
    with pytest.raises(ModelIntegrityError, match="not a model file"):
        Scorer.from_bytes(b"\x80\x04\x95 pickle bytes")
    with pytest.raises(ModelIntegrityError, match="unsupported model format"):
        Scorer.from_bytes(b'{"format": "pickle"}')


def test_categories_outside_the_list_are_refused_naming_the_column(trained, data: pd.DataFrame) -> None:
    _, scorer = trained
    frame = data.head(5).astype({"plan": "string"})
    frame.loc[frame.index[2], "plan"] = "gold"
    with pytest.raises(DataError, match=r"^plan: values outside the schema's categories"):
        model_input(frame)
    with pytest.raises(DataError, match=r"^plan: values outside the model's categories"):
        scorer.encode_frame(frame)
    # As text or as a categorical over the same categories, the codes are the same.
    text = data.head(50).astype({"plan": "string", "region": "string"})
    np.testing.assert_array_equal(scorer.encode_frame(text), scorer.encode_frame(data.head(50)))


def test_the_logreg_pipeline_is_scikit_learns_scaling_encoding_and_optimum_to_the_bit(data: pd.DataFrame) -> None:
    """Same statistics, same encoded matrix, same coefficients as the scikit-learn pipeline it replaces."""
    x, y = model_input(data), data[LABEL].to_numpy()
    pre = hgb_pipeline(train_params()).named_steps["pre"]
    expected = pre.fit_transform(x)
    scaler = pre.named_transformers_["num"]
    ours = LogregPipeline.fit(x, y, C=1.0, max_iter=100)
    assert ours.mean.tobytes() == scaler.mean_.tobytes() and ours.scale.tobytes() == scaler.scale_.tobytes()
    encoded = design(x, ours.mean, ours.scale)
    assert encoded.dtype == expected.dtype and encoded.tobytes() == expected.tobytes()
    reference = logreg.fit(expected, y == 1, C=1.0, max_iter=100)
    assert ours.coef.tobytes() == reference.coef.tobytes() and ours.intercept == reference.intercept
    proba = ours.predict_proba(x)
    assert proba.shape == (len(x), 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_a_constant_numeric_column_gets_scale_one_as_in_scikit_learn(data: pd.DataFrame) -> None:
    x, y = model_input(data), data[LABEL].to_numpy()
    x["tenure_months"] = 12.0
    pre = hgb_pipeline(train_params()).named_steps["pre"].fit(x)
    ours = LogregPipeline.fit(x, y, C=1.0, max_iter=100)
    assert ours.scale.tolist() == pre.named_transformers_["num"].scale_.tolist() and ours.scale[0] == 1.0


def test_newton_stopped_early_warns_with_the_param_to_raise(data: pd.DataFrame) -> None:
    with pytest.warns(logreg.ConvergenceWarning, match="1 Newton steps .train.logreg.max_iter."):
        LogregPipeline.fit(model_input(data), data[LABEL].to_numpy(), C=1.0, max_iter=1)
