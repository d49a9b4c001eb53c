"""Champion and challenger: the verdict is a pure function of the two models and the data."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.core.errors import GateError
from churnops.core.schema import LABEL
from churnops.pipeline.export import export_model
from churnops.pipeline.promote import BASIS_HOLDOUT, BASIS_TEST, NO_CHAMPION, check_promotion, judge, load_champion
from churnops.pipeline.scorer import Scorer, md5_bytes, model_bytes
from churnops.pipeline.train import train
from tests.utils.factories import clean_customers, train_params


@pytest.fixture(scope="module")
def models() -> tuple[Scorer, Scorer]:
    strong = train(clean_customers(3000, seed=1), train_params())
    weak = train(clean_customers(3000, seed=1), train_params(logreg={"C": 1e-6, "max_iter": 200}, gate_f1=0.0))
    return tuple(Scorer.from_bytes(model_bytes(export_model(r.pipeline, 0.5))) for r in (strong, weak))  # type: ignore[return-value]


def test_the_margin_decides_and_the_message_is_one_line(models: tuple[Scorer, Scorer]) -> None:
    strong, weak = models
    holdout, test = clean_customers(800, seed=2), clean_customers(800, seed=3)
    tie = judge(strong, strong, holdout, test, 0.0, ("a", "a"))
    assert tie.promoted and tie.basis == BASIS_HOLDOUT and tie.challenger_f1 == tie.champion_f1
    refused = judge(strong, strong, holdout, test, 0.9, ("a", "a"))
    assert not refused.promoted
    refusal = r"^promotion refused: challenger f1=0\.\d{3} < champion f1=0\.\d{3} \+ margin=0\.900 "
    with pytest.raises(GateError, match=refusal):
        check_promotion(refused)
    assert judge(weak, strong, holdout, test, 0.0, ("w", "s")).promoted is False
    assert judge(strong, weak, holdout, test, 0.0, ("s", "w")).promoted is True
    assert judge(strong, weak, holdout, test, 0.0, ("s", "w")) == judge(strong, weak, holdout, test, 0.0, ("s", "w"))


def test_a_one_class_holdout_defers_to_the_test_set_and_no_champion_promotes(
    models: tuple[Scorer, Scorer], tmp_path: Path
) -> None:
    strong, weak = models
    holdout, test = clean_customers(800, seed=2), clean_customers(800, seed=3)
    v = judge(strong, weak, holdout[holdout[LABEL] == 1], test, 0.0, ("s", "w"))
    assert v.basis == BASIS_TEST and v.metrics()["feedback_holdout"]["challenger_f1"] is None
    path = tmp_path / "champion.json"
    path.write_bytes(NO_CHAMPION)
    champion, md5 = load_champion(path)
    assert champion is None and md5 == md5_bytes(NO_CHAMPION)
    first = judge(strong, None, holdout, test, 0.9, ("s", md5))
    assert first.promoted and first.message().startswith("promoted: no champion yet")
