"""Binary classification figures in plain numpy: counts, F1, ROC and precision-recall curves.

The figures are scikit-learn's (``f1_score``, ``roc_curve``, ``precision_recall_curve``,
``roc_auc_score``...) computed with the same arithmetic, so they are the same floats
(``tests/pipeline/test_classification.py`` holds them to it). They are written here because
importing ``sklearn.metrics`` costs a stage about a second (it loads scipy.stats), more than
the figures themselves take at a million rows, and the service-side stages (evaluate,
feedback) need nothing else of scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Counts:
    """The confusion counts of 0/1 decisions against 0/1 labels."""

    tn: int
    fp: int
    fn: int
    tp: int

    @classmethod
    def of(cls, y_true: np.ndarray, y_pred: np.ndarray) -> Counts:
        """Count ``y_pred`` (0/1 or bool) against ``y_true`` (0/1 or bool)."""
        cells = np.bincount(2 * np.asarray(y_true, dtype=np.intp) + np.asarray(y_pred, dtype=np.intp), minlength=4)
        tn, fp, fn, tp = (int(c) for c in cells[:4])
        return cls(tn, fp, fn, tp)

    @property
    def n(self) -> int:
        return self.tn + self.fp + self.fn + self.tp

    # Each figure is one division of exact integers, as scikit-learn computes it with
    # zero_division=0: the same float.
    @property
    def f1(self) -> float:
        denom = (self.tp + self.fn) + (self.tp + self.fp)
        return 2.0 * self.tp / denom if denom else 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n


@dataclass(frozen=True)
class Curve:
    """True and false positives at each distinct score, highest score first."""

    tps: np.ndarray
    fps: np.ndarray
    thresholds: np.ndarray

    @classmethod
    def of(cls, y_true: np.ndarray, score: np.ndarray) -> Curve:
        """The cumulative counts scikit-learn's ``confusion_matrix_at_thresholds`` returns.

        Rows sort by descending score; ties are one point, so their order does not matter.
        """
        score = np.asarray(score, dtype=np.float64)
        order = np.argsort(score, kind="stable")[::-1]
        score = score[order]
        positive = np.asarray(y_true, dtype=np.float64)[order]
        ends = np.concatenate([np.flatnonzero(np.diff(score)), [score.size - 1]])
        tps = np.cumsum(positive)[ends]
        return cls(tps=tps, fps=1.0 + ends - tps, thresholds=score[ends])

    def roc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fpr, tpr, thresholds)`` as ``roc_curve`` (``drop_intermediate=True``) gives them.

        Needs both classes: with one, a rate divides by zero.
        """
        fps, tps, thr = self.fps, self.tps, self.thresholds
        if fps.size > 2:  # keep the corners: points where the curve changes direction
            keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
            fps, tps, thr = fps[keep], tps[keep], thr[keep]
        tps = np.r_[0.0, tps]
        fps = np.r_[0.0, fps]
        return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thr]

    def precision_recall(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(precision, recall, thresholds)`` as ``precision_recall_curve`` gives them.

        Needs a positive row: without one, recall divides by zero.
        """
        ps = self.tps + self.fps
        precision = np.divide(self.tps, ps, out=np.zeros_like(ps), where=ps != 0)
        recall = self.tps / self.tps[-1]
        return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], self.thresholds[::-1]

    def roc_auc(self) -> float:
        """The area under :meth:`roc`, by the trapezoidal rule, as ``roc_auc_score`` gives it."""
        fpr, tpr, _ = self.roc()
        return float(np.trapezoid(tpr, fpr))
