"""churnops.pipeline.logreg: its own exp/log are accurate, and its fit is scikit-learn's optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from churnops.pipeline.logreg import exp, fit, log, sigmoid


def test_exp_and_log_are_within_a_few_ulp_of_the_c_library() -> None:
    x = np.concatenate([np.linspace(-700, 700, 200_001), np.linspace(-1, 1, 100_001)])
    ref = np.array([math.exp(v) for v in x])
    assert np.max(np.abs(exp(x) - ref) / ref) < 4 * np.finfo(float).eps
    y = np.concatenate([np.geomspace(1e-300, 1e300, 200_001), np.linspace(0.5, 2.0, 100_001)])
    ref = np.array([math.log(v) for v in y])
    err = np.abs(log(y) - ref)
    assert np.all(err <= 4 * np.finfo(float).eps * np.maximum(np.abs(ref), 1e-300) + 1e-300)


def test_sigmoid_saturates_without_overflow() -> None:
    with np.errstate(all="raise"):
        p = sigmoid(np.array([-1e6, -800.0, 0.0, 800.0, 1e6]))
    assert p[2] == 0.5 and p[-1] == 1.0 and 0.0 <= p[0] < 1e-300


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_fit_reaches_scikit_learns_optimum(C: float) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=(5000, 3)), rng.integers(0, 2, size=(5000, 2))]).astype(np.float64)
    y = (x @ np.array([1.5, -2.0, 0.3, 0.8, -0.4]) + 0.2 + rng.logistic(size=5000) > 0).astype(int)
    ours = fit(x, y, C=C, max_iter=100)
    ref = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=200).fit(x, y)
    assert ours.converged and ours.n_iter < 20
    np.testing.assert_allclose(ours.coef, ref.coef_[0], rtol=0, atol=1e-8)
    assert abs(ours.intercept - ref.intercept_[0]) < 1e-8


def test_the_same_inputs_give_the_same_bits_in_blocks_of_any_layout() -> None:
    """Block sums run in a fixed order: a copy in another memory layout fits identically."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(70_000, 4))  # more than one block
    y = (x[:, 0] + rng.logistic(size=70_000) > 0).astype(int)
    a = fit(x, y, C=1.0, max_iter=50)
    b = fit(np.asfortranarray(x), y, C=1.0, max_iter=50)
    assert a.coef.tobytes() == b.coef.tobytes() and a.intercept == b.intercept
