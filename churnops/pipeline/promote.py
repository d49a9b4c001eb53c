"""Champion and challenger: the newly trained model replaces the served one only if it wins.

The champion is the model the committed ``dvc.lock`` records, copied to the Git-tracked
``models/champion.json`` (``churnops champion`` refreshes the copy after a promotion): an
explicit input of the ``train`` stage, so a fresh clone rebuilds the same verdict. The
challenger is what ``train`` just fitted. :func:`judge` scores both on the same recent
labeled hold-out of served traffic (rows ``feedback`` set aside, never trained on) and on
the fixed test set, side by side. The challenger is promoted only if it passed the gate and

    challenger f1 (hold-out) >= champion f1 (hold-out) + train.promote_margin

When the hold-out has no rows of one class (no F1 to compare), the fixed test set decides,
and the verdict says so (``basis``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnops.core import paths
from churnops.core.errors import DataError, GateError
from churnops.core.schema import FEATURE_NAMES, LABEL

if TYPE_CHECKING:
    import pandas as pd

    from churnops.pipeline.scorer import Scorer

CHAMPION_PATH = paths.CHAMPION
"""The Git-tracked copy of the champion model file; ``null`` in a project with no model yet."""

NO_CHAMPION = b"null\n"
"""What ``models/champion.json`` holds before the first model: any gated challenger is promoted."""


def load_champion(path: str | Path) -> tuple[Scorer | None, str]:
    """The champion's scorer (None when the file says ``null``) and the md5 of the file.

    Raises:
        DataError: the file is missing; ModelIntegrityError: it is neither null nor a model.
    """
    from churnops.pipeline.scorer import Scorer, md5_bytes

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read the champion: {err.strerror} (`churnops champion` writes it)") from None
    if data.strip() == NO_CHAMPION.strip():
        return None, md5_bytes(data)
    return Scorer.from_bytes(data, source=str(path)), md5_bytes(data)


BASIS_HOLDOUT = "feedback_holdout"
BASIS_TEST = "test"


def f1_of(scorer: Scorer, frame: pd.DataFrame) -> float | None:
    """F1 of ``scorer``'s decisions (its own threshold) on ``frame``; None without both classes."""
    from sklearn.metrics import f1_score

    y = frame[LABEL].to_numpy().astype(int)
    if len(set(y.tolist())) < 2:
        return None
    pred = scorer.predict_proba_frame(frame[list(FEATURE_NAMES)]) >= scorer.threshold
    return float(f1_score(y, pred.astype(int), zero_division=0))


@dataclass(frozen=True)
class Verdict:
    promoted: bool
    challenger_f1: float
    champion_f1: float | None
    """None: there was no champion (the first model)."""
    margin: float
    basis: str
    figures: dict[str, Any]

    def message(self) -> str:
        if self.champion_f1 is None:
            return f"promoted: no champion yet (challenger f1={self.challenger_f1:.3f})"
        word, op = ("promoted", ">=") if self.promoted else ("promotion refused", "<")
        where = f"{self.basis.replace('_', ' ')}, {self.figures['n_' + self.basis]} rows"
        return (
            f"{word}: challenger f1={self.challenger_f1:.3f} {op} champion f1={self.champion_f1:.3f} "
            f"+ margin={self.margin:.3f} (on the {where})"
        )

    def metrics(self) -> dict[str, Any]:
        return {
            "promoted": self.promoted,
            "challenger_f1": round(self.challenger_f1, 6),
            "champion_f1": _r(self.champion_f1),
            "margin": self.margin,
            "basis": self.basis,
            **self.figures,
        }


def judge(
    challenger: Scorer,
    champion: Scorer | None,
    holdout: pd.DataFrame,
    test: pd.DataFrame,
    margin: float,
    versions: tuple[str, str],
) -> Verdict:
    """Compare challenger and champion; pure: the same inputs give the same verdict."""
    figs: dict[str, Any] = {"challenger_md5": versions[0], "champion_md5": versions[1]}
    side: dict[str, tuple[float | None, float | None]] = {}
    for basis, frame in ((BASIS_HOLDOUT, holdout), (BASIS_TEST, test)):
        side[basis] = (f1_of(challenger, frame), None if champion is None else f1_of(champion, frame))
        figs[f"n_{basis}"] = len(frame)
        figs[basis] = {"challenger_f1": _r(side[basis][0]), "champion_f1": _r(side[basis][1])}
    if champion is None:
        basis = BASIS_HOLDOUT if side[BASIS_HOLDOUT][0] is not None else BASIS_TEST
        first = side[basis][0]
        return Verdict(True, first if first is not None else 0.0, None, margin, basis, figs)
    basis = BASIS_HOLDOUT if None not in side[BASIS_HOLDOUT] else BASIS_TEST
    ch, cp = side[basis]
    if ch is None or cp is None:
        raise GateError("promotion cannot be judged: the test set has rows of one class only")
    return Verdict(ch >= cp + margin, ch, cp, margin, basis, figs)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def check_promotion(verdict: Verdict) -> None:
    """Raise :class:`GateError` with the one-line verdict when promotion is refused."""
    if not verdict.promoted:
        raise GateError(verdict.message())
