"""The judge's verdict: a paired bootstrap of the F1 gain, exact, deterministic, and each of its cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from churnops.core.errors import DataError
from churnops.core.io import dumps_json
from churnops.core.metrics import split
from churnops.core.params import PromoteParams
from churnops.core.schema import LABEL
from churnops.pipeline import judge as j
from churnops.pipeline.export import export_model
from churnops.pipeline.scorer import Scorer, md5_bytes, model_bytes
from churnops.pipeline.train import train
from tests.utils.factories import clean_customers, default_params, train_params


def promote(**overrides: object) -> PromoteParams:
    """The fixture's ``promote`` section with ``overrides``."""
    return PromoteParams.model_validate({**default_params().promote.model_dump(), **overrides})


def fitted(rows: int, seed: int, **overrides: object) -> tuple[Scorer, str]:
    data = model_bytes(export_model(train(clean_customers(rows, seed), train_params(**overrides)).pipeline, 0.5))
    return Scorer.from_bytes(data), md5_bytes(data)


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[Scorer, str]]:
    return {
        "strong": fitted(3000, 1),
        "twin": fitted(3000, 2),  # the same recipe on another sample: equally good
        "weak": fitted(3000, 1, logreg={"C": 1e-6, "max_iter": 200}, gate_f1=0.0),
    }


@pytest.fixture(scope="module")
def sets() -> tuple[pd.DataFrame, pd.DataFrame]:
    return clean_customers(800, seed=2), clean_customers(3000, seed=3)  # hold-out, test


def random_cells(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.35
    return j.cells(y, np.where(rng.random(n) < 0.85, y, ~y), np.where(rng.random(n) < 0.8, y, ~y))


# -- the bootstrap


def test_eight_cell_counting_equals_resampling_the_rows_with_the_same_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(j, "CHUNK_DRAWS", 500)  # several chunks, one of them short
    codes = random_cells(237, seed=5)
    y, cand, champ = (codes >> 2) & 1, (codes >> 1) & 1, codes & 1
    # The rows as the bootstrap takes them: in cell order (a stable sort), each a whole row.
    order = np.argsort(codes, kind="stable")
    y, cand, champ = y[order], cand[order], champ[order]
    reference = []
    for draws in j.index_draws(42, len(codes), 50):
        for idx in draws:
            f1c = f1_score(y[idx], cand[idx], zero_division=0)
            f1h = f1_score(y[idx], champ[idx], zero_division=0)
            reference.append(f1c - f1h)
    assert len(reference) == 50
    np.testing.assert_array_equal(j.bootstrap_gains(codes, 50, 42), np.array(reference))


def test_the_bootstrap_is_a_pure_function_of_the_rows_and_the_seed() -> None:
    codes = random_cells(1000, seed=1)
    first = j.bootstrap_gains(codes, 300, 7)
    assert first.tobytes() == j.bootstrap_gains(codes.copy(), 300, 7).tobytes()
    assert first.tobytes() != j.bootstrap_gains(codes, 300, 8).tobytes()
    assert j.bootstrap_counts(codes, 300, 7).sum(axis=1).tolist() == [1000] * 300


def test_f1_from_counts_is_scikit_learns_and_zero_without_positives() -> None:
    codes = random_cells(500, seed=3)
    y, cand, champ = (codes >> 2) & 1, (codes >> 1) & 1, codes & 1
    f1c, f1h = j.f1_pair(j.cell_counts(codes))
    assert (float(f1c), float(f1h)) == (f1_score(y, cand), f1_score(y, champ))
    assert j.f1_pair(np.array([10, 0, 0, 0, 0, 0, 0, 0])) == (0.0, 0.0)  # all negatives, none predicted


def test_the_bound_leaves_exactly_the_tail_that_the_confidence_names() -> None:
    assert j.bound_rank(0.95, 2000) == 100  # not 101: 0.95 as written, not the float below it
    assert j.bound_rank(0.975, 2000) == 50
    assert j.bound_rank(0.999, 100) == 1
    rng = np.random.default_rng(0)
    for _ in range(200):
        gains = np.round(rng.normal(0.01, 0.01, 400), 3)  # ties included
        gain, min_gain = float(rng.normal(0.01, 0.01)), float(rng.choice([0.0, 0.005]))
        bound = j.lower_bound(gains, gain, 0.95)
        share = np.count_nonzero(2 * gain - gains <= min_gain) / len(gains)
        # The rule (bound > min_gain) and the reported share say the same thing.
        assert (bound > min_gain) == (share < j.bound_rank(0.95, 400) / 400)


# -- the verdict


def test_no_champion_recommends_the_first_model(models, sets) -> None:
    (strong, md5), (holdout, test) = models["strong"], sets
    v = j.judge(strong, None, holdout, test, promote(champion=None, min_holdout=100), md5)
    assert (v.verdict, v.recommend, v.basis) == (j.NO_CHAMPION, True, j.BASIS_HOLDOUT)
    figs = v.figures()
    assert figs["gain"] is None and figs["lower_bound"] is None and figs["champion_md5"] is None
    assert figs["feedback_holdout"]["champion_f1"] is None and figs["test"]["candidate_f1"] > 0.7
    assert v.message().startswith("first: no champion (promote.champion is null), so the candidate is recommended")


def test_the_same_model_is_not_judged_against_itself(models, sets) -> None:
    (strong, md5), (holdout, test) = models["strong"], sets
    v = j.judge(strong, None, holdout, test, promote(champion=md5), md5)
    assert (v.verdict, v.recommend, v.gain, v.lower_bound) == (j.SAME_MODEL, False, 0.0, None)
    assert v.figures()["test"]["candidate_f1"] == v.figures()["test"]["champion_f1"]
    assert v.message().startswith(f"same: the candidate is the champion ({md5})")


def test_a_clearly_better_candidate_is_promoted(models, sets) -> None:
    (strong, md5), (weak, weak_md5), (holdout, test) = models["strong"], models["weak"], sets
    v = j.judge(strong, weak, holdout, test, promote(champion=weak_md5, min_holdout=100), md5)
    assert (v.verdict, v.recommend, v.basis) == (j.PROMOTE, True, j.BASIS_HOLDOUT)
    assert v.lower_bound is not None and v.gain is not None and 0 < v.lower_bound < v.gain
    assert v.discordant is not None and v.discordant["candidate_right"] > v.discordant["champion_right"]
    line = v.message()
    assert line.startswith("promote: candidate f1=0.") and "on the feedback hold-out (800 rows)" in line
    assert "at 95 % (needs > 0.000)" in line and "\n" not in line
    # The reverse is no promotion: the weak model is kept out.
    back = j.judge(weak, strong, holdout, test, promote(champion=md5, min_holdout=100), weak_md5)
    assert back.verdict == j.KEEP and not back.recommend and back.share_at_or_below == 1.0


def test_an_equally_good_candidate_is_kept(models, sets) -> None:
    (strong, md5), (twin, twin_md5), (holdout, test) = models["strong"], models["twin"], sets
    for basis, min_holdout in ((j.BASIS_HOLDOUT, 100), (j.BASIS_TEST, 10_000)):
        v = j.judge(twin, strong, holdout, test, promote(champion=md5, min_holdout=min_holdout), twin_md5)
        assert (v.verdict, v.basis) == (j.KEEP, basis)
        assert v.lower_bound is not None and v.lower_bound <= 0 < v.share_at_or_below
    # Identical decisions from different files (another md5): no gain, so no promotion.
    v = j.judge(strong, strong, holdout, test, promote(champion="0" * 32, min_holdout=100), md5)
    assert (v.verdict, v.gain, v.discordant) == (j.KEEP, 0.0, {"candidate_right": 0, "champion_right": 0})


def test_min_gain_raises_the_bar(models, sets) -> None:
    (strong, md5), (weak, weak_md5), (holdout, test) = models["strong"], models["weak"], sets
    v = j.judge(strong, weak, holdout, test, promote(champion=weak_md5, min_holdout=100), md5)
    assert v.lower_bound is not None
    bar = promote(champion=weak_md5, min_holdout=100, min_gain=round(v.lower_bound + 0.01, 3))
    assert j.judge(strong, weak, holdout, test, bar, md5).verdict == j.KEEP


def test_the_test_set_decides_when_the_holdout_is_small_or_one_class(models, sets) -> None:
    (strong, md5), (weak, weak_md5), (holdout, test) = models["strong"], models["weak"], sets
    p = promote(champion=weak_md5, min_holdout=100)
    for small in (holdout.iloc[:99], holdout[holdout[LABEL] == 1], holdout.iloc[:0]):
        v = j.judge(strong, weak, small, test, p, md5)
        assert v.basis == j.BASIS_TEST and v.figures()["n"] == len(test)
        assert f"the feedback hold-out has {len(small)}, needs 100 with both classes" in v.message()
    one_class = test[test[LABEL] == 0]
    with pytest.raises(DataError, match=r"^cannot judge: the test set \(\d+ rows\) has one class only"):
        j.judge(strong, weak, holdout.iloc[:5], one_class, p, md5)


def test_the_verdict_is_bytes_for_bytes_the_same_and_splits_into_headline_and_details(models, sets) -> None:
    (strong, md5), (weak, weak_md5), (holdout, test) = models["strong"], models["weak"], sets
    p = promote(champion=weak_md5, min_holdout=100)
    first = dumps_json(j.judge(strong, weak, holdout, test, p, md5).figures())
    assert first == dumps_json(j.judge(strong, weak, holdout.copy(), test.copy(), p, md5).figures())
    headline, details = split("judge", json.loads(first))
    assert list(headline) == ["verdict"]
    assert set(details) == {
        "gain", "lower_bound", "recommend", "candidate_md5", "champion_md5", "basis", "n", "confidence", "min_gain",
        "min_holdout", "resamples", "seed", "share_at_or_below_min_gain", "discordant", "feedback_holdout", "test",
    }  # fmt: skip
    assert details["candidate_md5"] == md5 and details["champion_md5"] == weak_md5
    # Rounded to 6 digits, as every stage's figures are.
    assert all(len(repr(x).split(".")[-1]) <= 6 for x in (details["gain"], details["lower_bound"]))


def test_equally_good_models_are_promoted_in_about_5_percent_of_hold_outs() -> None:
    """The rule's false-promotion rate, on 400 hold-outs of 600 rows where the two models are
    exchangeable row by row (about 16 discordant rows each, as bench/promotion.py's small-sample
    pairs); docs/promotion.md has the bench's 4,000. Bound: 5 % plus three binomial standard errors."""
    rng = np.random.default_rng(11)
    p = promote(champion="0" * 32)
    promoted = 0
    for _ in range(400):
        y = rng.random(600) < 0.35
        base = np.where(rng.random(600) < 0.85, y, ~y)
        flip = rng.random(600) < 0.027
        first = rng.random(600) < 0.5
        cand, champ = np.where(flip & first, ~base, base), np.where(flip & ~first, ~base, base)
        promoted += j.weigh(j.cells(y, cand, champ), p).promote
    assert promoted / 400 <= 0.05 + 3 * (0.05 * 0.95 / 400) ** 0.5, promoted


def test_the_doc_shows_the_shipped_rule() -> None:
    """docs/promotion.md quotes params.yaml's promote section: the same values (the pin aside)."""
    import re

    import yaml

    from tests.utils.project import REPO_ROOT

    doc = (REPO_ROOT / "docs" / "promotion.md").read_text()
    shown = yaml.safe_load(re.search(r"```yaml\n(promote:\n.*?)```", doc, re.S)[1])["promote"]
    shipped = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["promote"]
    assert {k: v for k, v in shown.items() if k != "champion"} == {k: v for k, v in shipped.items() if k != "champion"}
