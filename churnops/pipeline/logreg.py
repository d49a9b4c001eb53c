"""L2-regularised logistic regression whose fitted bytes do not depend on the CPU.

scikit-learn's solvers reach the same optimum, but the last bits of the coefficients
depend on the machine: ``lbfgs`` and the Newton solvers call BLAS (OpenBLAS picks a
kernel per CPU, and each kernel sums in its own order), ``sag`` calls glibc's ``exp``
(glibc picks an FMA or a plain variant per CPU, and they differ in the last bit), and
numpy's own ``exp`` has AVX-512 loops. One bit there changes the model's md5.

This module fits the same model as ``LogisticRegression(C=C)`` (intercept not
penalised) by damped Newton steps, using only arithmetic whose result IEEE 754 fixes:

- numpy's elementwise ``+ - * /``, ``rint`` and ``ldexp``, which are correctly rounded
  in every SIMD loop, and its sums, whose order is fixed by the array's shape;
- ``exp`` and ``log`` written here from those operations (range reduction plus a
  polynomial), instead of glibc's or numpy's dispatched versions;
- the small Newton system solved by Cholesky in plain Python floats.

No BLAS or LAPACK call, no thread, no library transcendental: the same inputs give the
same bits on every x86-64 CPU. ``tests/e2e/test_cpu_independence.py`` checks it under
several OpenBLAS kernels and numpy SIMD levels.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning

_BLOCK = 65_536
"""Rows per block: the sums run block by block in a fixed order, and temporaries stay small."""

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (fdlibm): k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(14))
_LOG_SERIES = tuple(2.0 / (2 * k + 1) for k in range(12))


def exp(x: np.ndarray) -> np.ndarray:
    """``e**x`` for ``|x| <= 700`` within a few ulp, from correctly rounded operations only.

    ``x = k ln2 + r`` with ``|r| <= ln2 / 2``; ``e**r`` by its Taylor series to degree 13
    (truncation error below 1e-17), then scaled by ``2**k`` exactly.
    """
    k = np.rint(x * _INV_LN2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    poly = np.full_like(r, _EXP_TAYLOR[-1])
    for c in _EXP_TAYLOR[-2::-1]:
        poly = poly * r + c
    return np.ldexp(poly, k.astype(np.int32))


def log(x: np.ndarray) -> np.ndarray:
    """Natural log of positive finite ``x`` within a few ulp, from correctly rounded operations only.

    ``x = m 2**e`` with ``m`` in ``[sqrt(1/2), sqrt(2))``; ``log m = 2 atanh(s)``,
    ``s = (m - 1) / (m + 1)``, ``|s| < 0.172``, by its odd series to ``s**23``.
    """
    m, e = np.frexp(x)  # m in [0.5, 1)
    low = m < 0.7071067811865476
    m = np.where(low, m * 2.0, m)
    e = np.where(low, e - 1, e).astype(np.float64)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    poly = np.full_like(s, _LOG_SERIES[-1])
    for c in _LOG_SERIES[-2::-1]:
        poly = poly * s2 + c
    result: np.ndarray = (e * _LN2_HI + s * poly) + e * _LN2_LO
    return result


def _log1pexp(z: np.ndarray) -> np.ndarray:
    """``log(1 + e**z)`` without overflow."""
    result: np.ndarray = np.maximum(z, 0.0) + log(1.0 + exp(-np.abs(z)))
    return result


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + e**-z)``, saturating cleanly for large ``|z|``."""
    return 1.0 / (1.0 + exp(np.clip(-z, -700.0, 700.0)))


def _row_dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    # A row-wise sum in numpy's fixed pairwise order; ``x @ w`` would go to BLAS gemv.
    result: np.ndarray = (x * w).sum(axis=1)
    return result


def decision(x: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """``x @ coef + intercept`` computed without BLAS, block by block."""
    out = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), _BLOCK):
        out[start : start + _BLOCK] = _row_dot(x[start : start + _BLOCK], coef) + intercept
    return out


class NewtonLogisticRegression(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped (Any)
    """A scikit-learn-style classifier around :func:`fit`, the last step of the training pipeline.

    It offers what ``Pipeline`` and the export need: ``fit``, ``predict_proba``,
    ``classes_``, ``coef_`` (shape ``(1, d)``), ``intercept_`` and ``n_iter_``.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 100) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit(self, x: np.ndarray, y: np.ndarray) -> NewtonLogisticRegression:
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"need two classes, got {self.classes_.tolist()}")
        result = fit(np.asarray(x, dtype=np.float64), y == self.classes_[1], self.C, self.max_iter)
        self.coef_ = result.coef[None, :]
        self.intercept_ = np.array([result.intercept])
        self.n_iter_ = np.array([result.n_iter])
        self.converged_ = result.converged
        if not result.converged:  # as scikit-learn's solvers do: the stage shows it on stderr
            warnings.warn(
                f"logistic regression did not converge in {self.max_iter} Newton steps (train.logreg.max_iter)",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = sigmoid(decision(np.asarray(x, dtype=np.float64), self.coef_[0], float(self.intercept_[0])))
        return np.column_stack([1.0 - p, p])


@dataclass(frozen=True)
class Fit:
    """The fitted coefficients and how the solver got there."""

    coef: np.ndarray
    intercept: float
    n_iter: int
    converged: bool


def fit(x: np.ndarray, y: np.ndarray, C: float, max_iter: int, tol: float = 1e-10) -> Fit:
    """Minimise ``sum(log(1 + exp(-t * (x @ w + b)))) + |w|**2 / (2 C)`` over ``w, b``.

    ``t`` is ``y`` mapped to -1/+1. The minimiser is scikit-learn's
    ``LogisticRegression(C=C)``'s. Newton steps with backtracking (Armijo) on the
    objective; stops when a step changes no coefficient by more than ``tol`` (relative),
    or after ``max_iter`` steps.

    Args:
        x: the encoded inputs, float64, shape ``(n, d)``.
        y: labels 0/1, shape ``(n,)``.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y01 = np.asarray(y, dtype=np.float64)
    d = x.shape[1]
    theta = [0.0] * (d + 1)  # coefficients, then the intercept (unpenalised)
    obj = _objective(x, y01, theta, C)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        grad, hess = _gradient_hessian(x, y01, theta, C)
        step = _cholesky_solve(hess, [-g for g in grad])
        slope = sum(g * s for g, s in zip(grad, step, strict=True))
        t = 1.0
        for _ in range(50):  # the objective is convex: a short enough Newton step always descends
            trial = [a + t * s for a, s in zip(theta, step, strict=True)]
            trial_obj = _objective(x, y01, trial, C)
            if trial_obj <= obj + 1e-4 * t * slope:
                break
            t *= 0.5
        else:  # pragma: no cover - only when the step is already below rounding
            break
        change = max(abs(a - b) for a, b in zip(trial, theta, strict=True))
        theta, obj = trial, trial_obj
        if change <= tol * max(1.0, max(abs(a) for a in theta)):
            converged = True
            break
    return Fit(np.asarray(theta[:d], dtype=np.float64), float(theta[d]), n_iter, converged)


def _objective(x: np.ndarray, y01: np.ndarray, theta: list[float], C: float) -> float:
    w, b = np.asarray(theta[:-1]), theta[-1]
    total = 0.0
    for start in range(0, len(x), _BLOCK):
        z = _row_dot(x[start : start + _BLOCK], w) + b
        # -log-likelihood of a logistic model: log(1 + e**z) - y z
        total += float((_log1pexp(z) - y01[start : start + _BLOCK] * z).sum())
    return total + sum(v * v for v in theta[:-1]) / (2.0 * C)


def _gradient_hessian(
    x: np.ndarray, y01: np.ndarray, theta: list[float], C: float
) -> tuple[list[float], list[list[float]]]:
    d = x.shape[1]
    w, b = np.asarray(theta[:-1]), theta[-1]
    g = np.zeros(d + 1)
    h = np.zeros((d + 1, d + 1))
    for start in range(0, len(x), _BLOCK):
        xb = x[start : start + _BLOCK]
        p = sigmoid(_row_dot(xb, w) + b)
        r = p - y01[start : start + _BLOCK]
        s = p * (1.0 - p)
        g[:d] += (xb * r[:, None]).sum(axis=0)
        g[d] += r.sum()
        xs = xb * s[:, None]
        for j in range(d):  # X' diag(s) X one row at a time: a matrix product would go to BLAS
            h[j, :d] += (xs * xb[:, j : j + 1]).sum(axis=0)
        h[d, :d] += xs.sum(axis=0)
        h[d, d] += s.sum()
    grad = [float(v) for v in g]
    hess = [[float(v) for v in row] for row in h]
    for j in range(d):
        grad[j] += theta[j] / C
        hess[j][j] += 1.0 / C
        hess[j][d] = hess[d][j]
    return grad, hess


def _cholesky_solve(a: list[list[float]], rhs: list[float]) -> list[float]:
    """Solve ``a x = rhs`` for symmetric positive definite ``a``, in plain Python floats."""
    n = len(a)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            acc = a[i][j]
            for k in range(j):
                acc -= low[i][k] * low[j][k]
            # math.sqrt is correctly rounded (IEEE 754); ``acc ** 0.5`` would call libm's pow.
            low[i][j] = math.sqrt(acc) if i == j else acc / low[j][j]
    z = [0.0] * n
    for i in range(n):
        acc = rhs[i]
        for k in range(i):
            acc -= low[i][k] * z[k]
        z[i] = acc / low[i][i]
    out = [0.0] * n
    for i in reversed(range(n)):
        acc = z[i]
        for k in range(i + 1, n):
            acc -= low[k][i] * out[k]
        out[i] = acc / low[i][i]
    return out
