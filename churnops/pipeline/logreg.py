"""L2-regularised logistic regression whose fitted bytes do not depend on the CPU.

scikit-learn's solvers reach the same optimum, but the last bits of the coefficients
depend on the machine: ``lbfgs`` and the Newton solvers call BLAS (OpenBLAS picks a
kernel per CPU, and each kernel sums in its own order), ``sag`` calls glibc's ``exp``
(glibc picks an FMA or a plain variant per CPU, and they differ in the last bit), and
numpy's own ``exp`` has AVX-512 loops. One bit there changes the model's md5.

This module fits the same model as ``LogisticRegression(C=C)`` (intercept not
penalised) by damped Newton steps, using only arithmetic whose result IEEE 754 fixes:

- numpy's elementwise ``+ - * /`` and ``rint``, which are correctly rounded in every SIMD
  loop, integer operations, and numpy's sums along a contiguous row, whose (pairwise) order
  is fixed by the row's length;
- ``np.bincount``'s weighted sums, a plain loop over the rows in their order;
- ``exp`` and ``log`` written here from those operations (range reduction plus a
  polynomial), instead of glibc's or numpy's dispatched versions;
- the small Newton system assembled and solved by Cholesky in plain Python floats.

No BLAS or LAPACK call, no thread, no library transcendental: the same inputs give the
same bits on every x86-64 CPU. ``tests/e2e/test_cpu_independence.py`` checks it under
several OpenBLAS kernels and numpy SIMD levels.

Each Newton step needs the objective, its gradient and its ``(d + 1) x (d + 1)`` Hessian
at one point: one pass over the rows, block by block. The pass costs little per row
because the one-hot columns are never multiplied out: every 0/1 column is summed per
*pattern* of 0/1 values (12 patterns for the schema's two categorical features), so a
row costs the products of its few numeric columns plus one ``bincount`` per sum.

Length: one concern, a CPU-independent fit; its ``exp``/``log`` and the pattern-summed pass
are that concern's parts and are tested together against scikit-learn's fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_BLOCK = 65_536
"""Rows per block: the sums run block by block in a fixed order, and temporaries stay small."""
_MAX_PATTERN_COLUMNS = 20
"""0/1 columns summed per pattern, at most (2**20 patterns); any more are summed like numeric ones."""

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (fdlibm): k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT2_M1 = 0.41421356237309504880  # sqrt(2) - 1
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(14))
_LOG_SERIES = tuple(2.0 / (2 * k + 1) for k in range(12))


def exp(x: np.ndarray) -> np.ndarray:
    """``e**x`` for ``|x| <= 700`` within a few ulp, from correctly rounded operations only.

    ``x = k ln2 + r`` with ``|r| <= ln2 / 2``; ``e**r`` by its Taylor series to degree 13
    (truncation error below 1e-17), then scaled by ``2**k`` exactly.
    """
    k = np.rint(x * _INV_LN2)
    r = x - k * _LN2_HI
    r -= k * _LN2_LO
    poly = r * _EXP_TAYLOR[-1]
    poly += _EXP_TAYLOR[-2]
    for c in _EXP_TAYLOR[-3::-1]:
        poly *= r
        poly += c
    # 2**k from its bit pattern (k is within the normal exponents): exact like ldexp, and cheaper.
    poly *= ((k.astype(np.int64) + 1023) << 52).view(np.float64)
    return poly


def _atanh_series(s: np.ndarray) -> np.ndarray:
    """``2 atanh(s)`` for ``|s| < 0.172``, by its odd series to ``s**23`` (truncation below 1e-17)."""
    s2 = s * s
    poly: np.ndarray = s2 * _LOG_SERIES[-1]
    poly += _LOG_SERIES[-2]
    for c in _LOG_SERIES[-3::-1]:
        poly *= s2
        poly += c
    poly *= s
    return poly


def log(x: np.ndarray) -> np.ndarray:
    """Natural log of positive finite ``x`` within a few ulp, from correctly rounded operations only.

    ``x = m 2**e`` with ``m`` in ``[sqrt(1/2), sqrt(2))``; ``log m = 2 atanh(s)``,
    ``s = (m - 1) / (m + 1)``, ``|s| < 0.172``.
    """
    m, e = np.frexp(x)  # m in [0.5, 1)
    low = m < 0.7071067811865476
    m = np.where(low, m * 2.0, m)
    k = np.where(low, e - 1, e).astype(np.float64)
    result: np.ndarray = (k * _LN2_HI + _atanh_series((m - 1.0) / (m + 1.0))) + k * _LN2_LO
    return result


def _log1p_unit(e: np.ndarray) -> np.ndarray:
    """``log(1 + e)`` for ``e`` in ``[0, 1]``, as :func:`log` but without ``frexp``.

    ``1 + e = m 2**k`` with ``k`` 0 or 1; ``s = (m - 1) / (m + 1)`` is ``e / (2 + e)`` for
    ``k = 0`` and ``(e - 1) / (e + 3)`` for ``k = 1``, either way ``|s| < 0.172``.
    """
    k = (e > _SQRT2_M1).astype(np.float64)
    s = np.where(k > 0.0, e - 1.0, e)
    s /= np.where(k > 0.0, e + 3.0, e + 2.0)
    result: np.ndarray = (k * _LN2_HI + _atanh_series(s)) + k * _LN2_LO
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


class ConvergenceWarning(UserWarning):
    """Newton stopped at ``max_iter`` steps before converging (scikit-learn's name, without importing it)."""


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
    design = _Design.of(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    theta = [0.0] * (design.d + 1)  # coefficients, then the intercept (unpenalised)
    obj, grad, hess = design.evaluate(theta, C)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        step = _cholesky_solve(hess, [-g for g in grad])
        if max(abs(s) for s in step) <= tol * max(1.0, max(abs(a) for a in theta)):
            theta = [a + s for a, s in zip(theta, step, strict=True)]
            converged = True
            break
        slope = sum(g * s for g, s in zip(grad, step, strict=True))
        # Once a full step promises less decrease than the objective's rounding can show, the
        # Armijo test compares noise; there the quadratic model is exact, so the step is taken.
        negligible = -slope <= 1e-12 * abs(obj)
        t = 1.0
        for _ in range(50):  # the objective is convex: a short enough Newton step always descends
            trial = [a + t * s for a, s in zip(theta, step, strict=True)]
            trial_obj, trial_grad, trial_hess = design.evaluate(trial, C)
            if negligible or trial_obj <= obj + 1e-4 * t * slope:
                break
            t *= 0.5
        else:  # pragma: no cover - only when the step is already below rounding
            break
        theta, obj, grad, hess = trial, trial_obj, trial_grad, trial_hess
    d = design.d
    return Fit(np.asarray(theta[:d], dtype=np.float64), float(theta[d]), n_iter, converged)


@dataclass(frozen=True)
class _Design:
    """The rows laid out for the Newton pass: numeric columns by column, 0/1 columns as a pattern index.

    A row's 0/1 columns (one-hot encodings) take few joint values, its *pattern*: their share
    of ``x @ w`` is the pattern's offset, and every sum that involves them is a sum over the
    pattern's rows times its 0/1 values, so they are never multiplied out row by row.
    """

    d: int
    numeric: list[int]
    """Columns multiplied row by row."""
    binary: list[int]
    """0/1 columns, summed per pattern."""
    xn: np.ndarray
    """The numeric columns, one contiguous row each: ``(len(numeric), n)``."""
    pattern: np.ndarray
    """Each row's pattern index, ``(n,)``."""
    patterns: np.ndarray
    """Each pattern's values of the 0/1 columns, then a 1 for the intercept: ``(G, len(binary) + 1)``."""
    y: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> _Design:
        n, d = x.shape
        is01 = np.ones(d, dtype=bool)
        for start in range(0, n, _BLOCK):
            xb = x[start : start + _BLOCK]
            is01 &= ((xb == 0.0) | (xb == 1.0)).all(axis=0)
        binary = [j for j in range(d) if is01[j]][:_MAX_PATTERN_COLUMNS]
        numeric = [j for j in range(d) if j not in binary]
        bits = np.arange(len(binary))
        xn = np.empty((len(numeric), n))
        code = np.empty(n, dtype=np.intp)
        for start in range(0, n, _BLOCK):  # row blocks of a row-major x: cache-friendly either way
            xb = x[start : start + _BLOCK]
            xn[:, start : start + _BLOCK] = xb[:, numeric].T
            code[start : start + _BLOCK] = ((xb[:, binary] == 1.0).astype(np.intp) << bits).sum(axis=1)
        present = np.flatnonzero(np.bincount(code, minlength=1 << len(binary)))
        index = np.zeros(1 << len(binary), dtype=np.intp)
        index[present] = np.arange(len(present))
        patterns = np.ones((len(present), len(binary) + 1))
        patterns[:, :-1] = (present[:, None] >> bits) & 1
        return cls(d, numeric, binary, xn, index[code], patterns, y)

    def evaluate(self, theta: list[float], C: float) -> tuple[float, list[float], list[list[float]]]:
        """The objective, its gradient and its Hessian at ``theta``, from fixed-order block sums."""
        d, m, g_count = self.d, len(self.numeric), len(self.patterns)
        w_numeric = [theta[j] for j in self.numeric]
        cols = [*self.binary, d]  # the patterns' columns: the 0/1 ones, then the intercept's
        offset = np.zeros(g_count)
        for c, j in enumerate(cols):
            offset += theta[j] * self.patterns[:, c]
        loss = 0.0
        r_sum, s_sum = np.zeros(g_count), np.zeros(g_count)  # per pattern: sum of r, of s
        sx_sum = np.zeros((m, g_count))  # per pattern: sum of s * x_a
        rx_sum, sxx_sum = np.zeros(m), np.zeros((m, m))  # sum of r * x_a; of s * x_a * x_b (b >= a)
        for start in range(0, len(self.y), _BLOCK):
            xn = self.xn[:, start : start + _BLOCK]
            yb = self.y[start : start + _BLOCK]
            pb = self.pattern[start : start + _BLOCK]
            z = offset[pb]
            for a in range(m):
                z += w_numeric[a] * xn[a]
            e = exp(np.maximum(-np.abs(z), -700.0))  # e**-|z|, in (0, 1]: never overflows
            q = 1.0 / (1.0 + e)
            # -log-likelihood of a logistic model: log(1 + e**z) - y z
            loss += float((np.maximum(z, 0.0) + _log1p_unit(e) - yb * z).sum())
            r = np.where(z >= 0.0, q, e * q) - yb  # sigmoid(z) - y: d loss / d z
            s = e * q * q  # sigmoid(z) (1 - sigmoid(z)): d2 loss / d z2
            r_sum += np.bincount(pb, weights=r, minlength=g_count)
            s_sum += np.bincount(pb, weights=s, minlength=g_count)
            rx_sum += (xn * r).sum(axis=1)
            sx = xn * s
            for a in range(m):
                sx_sum[a] += np.bincount(pb, weights=sx[a], minlength=g_count)
                sxx_sum[a, a:] += (sx[a] * xn[a:]).sum(axis=1)

        grad = [0.0] * (d + 1)
        hess = [[0.0] * (d + 1) for _ in range(d + 1)]

        def put(i: int, j: int, v: np.floating) -> None:
            hess[i][j] = hess[j][i] = float(v)

        for a, i in enumerate(self.numeric):
            grad[i] = float(rx_sum[a])
            for b in range(a, m):
                put(i, self.numeric[b], sxx_sum[a, b])
            for c, j in enumerate(cols):
                put(i, j, (sx_sum[a] * self.patterns[:, c]).sum())
        for c, i in enumerate(cols):
            grad[i] = float((r_sum * self.patterns[:, c]).sum())
            for c2 in range(c, len(cols)):
                put(i, cols[c2], (s_sum * self.patterns[:, c] * self.patterns[:, c2]).sum())
        for j in range(d):
            grad[j] += theta[j] / C
            hess[j][j] += 1.0 / C
        return loss + sum(v * v for v in theta[:d]) / (2.0 * C), grad, hess


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
