"""The schema's typed accessors: a feature of the asked kind, or one line naming the valid ones."""

from __future__ import annotations

import pytest

from churnops.core.schema import CATEGORICAL, CATEGORICAL_NAMES, NUMERIC, NUMERIC_NAMES, categorical, numeric


def test_each_accessor_returns_its_kind_for_every_name_of_that_kind() -> None:
    assert [categorical(n) for n in CATEGORICAL_NAMES] == list(CATEGORICAL)
    assert [numeric(n) for n in NUMERIC_NAMES] == list(NUMERIC)


@pytest.mark.parametrize("name", ["tenure_months", "regoin"])
def test_a_name_of_another_kind_or_no_feature_is_refused_naming_the_valid_ones(name: str) -> None:
    with pytest.raises(ValueError, match=rf"'{name}' is not a categorical feature \(one of \['plan', 'region'\]\)"):
        categorical(name)


def test_a_categorical_name_is_not_numeric() -> None:
    with pytest.raises(ValueError, match=r"'plan' is not a numeric feature \(one of \['tenure_months'"):
        numeric("plan")
