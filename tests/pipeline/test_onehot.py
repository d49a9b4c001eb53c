"""The dense code encoder gives scikit-learn's OneHotEncoder array, and refuses what it refuses."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import OneHotEncoder

from churnops.pipeline.onehot import CodeOneHotEncoder

CATEGORIES = [list(range(4)), list(range(3))]


def _codes(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan, region = rng.integers(0, 4, n).astype(np.int8), rng.integers(0, 3, n).astype(np.int8)
    return pd.DataFrame({"plan": plan, "region": region})


@pytest.mark.parametrize("n", [1, 1000])
def test_the_array_equals_scikit_learns(n: int) -> None:
    x = _codes(n, seed=n)
    ours = CodeOneHotEncoder(categories=CATEGORIES, sparse_output=False, dtype=np.float32).fit(_codes(50, 1))
    theirs = OneHotEncoder(categories=CATEGORIES, sparse_output=False, dtype=np.float32).fit(_codes(50, 1))
    got, want = ours.transform(x), theirs.transform(x)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert list(ours.get_feature_names_out()) == list(theirs.get_feature_names_out())


def test_an_unknown_code_or_a_wrong_shape_is_refused() -> None:
    enc = CodeOneHotEncoder(categories=CATEGORIES, sparse_output=False).fit(_codes(50, 1))
    bad = _codes(10, 2)
    bad.loc[3, "region"] = 3
    with pytest.raises(ValueError, match=re.escape("column 1: a code outside 0..2")):
        enc.transform(bad)
    with pytest.raises(ValueError, match="expected 2 code columns"):
        enc.transform(bad[["plan"]])
