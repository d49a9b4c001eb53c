"""train_stats.json through its one model: what prepare writes the monitor reads back, and a bad file is one line."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from churnops.core import trainstats
from churnops.core.errors import DataError
from churnops.core.io import dumps_json
from churnops.core.trainstats import TrainStats
from churnops.pipeline.prepare import training_stats
from tests.utils.factories import labelled_customers


def test_what_prepare_writes_reads_back_equal_and_rewrites_to_the_same_bytes(tmp_path: Path) -> None:
    stats = training_stats(labelled_customers(5000, seed=3))
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    trainstats.write(first, stats)
    loaded = trainstats.load(first)
    assert loaded == stats
    trainstats.write(second, loaded)
    assert first.read_bytes() == second.read_bytes()
    # Canonical JSON (sorted keys, indent 2), the same text as every other JSON output.
    assert first.read_text() == dumps_json(json.loads(first.read_text()))
    assert set(json.loads(first.read_text())) == {"n", "churn_rate", "numeric", "categorical"}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets the dotted ``path`` of the decoded file to ``value``."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _pop_count(doc: dict[str, Any]) -> None:
    doc["numeric"]["avg_session_minutes"]["psi_bins"]["counts"].pop()


def _unsorted_cuts(doc: dict[str, Any]) -> None:
    doc["numeric"]["tenure_months"]["psi_bins"]["cuts"].reverse()


def _unknown_feature(doc: dict[str, Any]) -> None:
    doc["numeric"]["age"] = doc["numeric"]["tenure_months"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_drop("churn_rate"), "churn_rate: missing"),
        (_set("churn_rate", "0.4"), "churn_rate: Input should be a valid number (got '0.4')"),
        (_set("churn_rate", 1.5), "churn_rate: Input should be less than or equal to 1 (got 1.5)"),
        (_drop("numeric.tenure_months"), "numeric.tenure_months: missing"),
        (_set("numeric.tenure_months.std", -1.0), "numeric.tenure_months.std: Input should be greater than or equal"),
        (_set("numeric.tenure_months.mean", float("nan")), "numeric.tenure_months.mean: Input should be a finite"),
        (_set("numeric.tenure_months.histogram", [1, 2]), "numeric.tenure_months.histogram: unknown field"),
        (_pop_count, "numeric.avg_session_minutes.psi_bins: 9 counts for 9 cuts; need one more count than cuts"),
        (_unsorted_cuts, "numeric.tenure_months.psi_bins: cuts must increase"),
        (_drop("categorical.region.counts.west"), "categorical.region.counts.west: missing"),
        (_set("categorical.plan.counts.basic", 2.5), "categorical.plan.counts.basic: Input should be a valid integer"),
        (_set("categorical.plan.counts.gold", 3), "categorical.plan.counts.gold: not in the feature schema"),
        (
            _drop("categorical.plan.frequencies.basic"),
            "categorical.plan.frequencies: not the categories of its counts",
        ),
        (_set("n", "x" * 100), "n: Input should be a valid integer (got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…)"),
        (_unknown_feature, "numeric.age: not in the feature schema"),
        (_set("n", 7), "numeric.tenure_months.psi_bins.counts: sum to "),
        (_set("categorical.region.counts.west", 0), "categorical.region.counts: sum to "),
    ],
)
def test_a_bad_file_is_refused_in_one_line_naming_the_file_and_the_field(
    train_stats: TrainStats, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = copy.deepcopy(trainstats.to_json(train_stats))
    mutate(doc)
    with pytest.raises(DataError) as err:
        trainstats.parse(json.dumps(doc), "stats.json")
    text = str(err.value)
    assert text.startswith(f"stats.json: not valid training statistics: {message}"), text
    assert "\n" not in text


def test_missing_unreadable_and_non_object_files_are_one_line(tmp_path: Path) -> None:
    cases = {
        tmp_path / "absent.json": None,
        tmp_path / "broken.json": "{not json",
        tmp_path / "list.json": "[1, 2]",
    }
    expected = ["training statistics not found", "cannot read training statistics: Invalid JSON", "should be an object"]
    for (path, text), words in zip(cases.items(), expected, strict=True):
        if text is not None:
            path.write_text(text)
        with pytest.raises(DataError) as err:
            trainstats.load(path)
        assert str(err.value).startswith(f"{path}: ") and words in str(err.value), str(err.value)
        assert "\n" not in str(err.value)
