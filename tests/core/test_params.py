"""The typed params loader: defaults, the fixture params.yaml, and every class of bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from churnops.core.errors import ParamsError
from churnops.core.params import (
    load_params,
    parse_params,
)
from tests.utils.project import FIXTURE_PARAMS, REPO_ROOT, fixture_params


def base() -> dict:
    return yaml.safe_load(fixture_params())


def with_value(dotted: str, value: object) -> dict:
    data = base()
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    return data


def _keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    return {f"{prefix}{k}" for k in node} | {x for k, v in node.items() for x in _keys(v, f"{prefix}{k}.")}


def test_the_fixture_params_yaml_is_valid_and_laid_out_as_the_shipped_file() -> None:
    """Tests build projects from tests/utils/params.yaml, never the user's params.yaml; the
    fixture has the shipped file's keys (its values are the user's to tune, so not compared)."""
    load_params(FIXTURE_PARAMS)
    shipped = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    assert _keys(base()) == _keys(shipped)


@pytest.mark.parametrize(
    ("dotted", "value", "fragment"),
    [
        ("train.gate_f1", 1.5, "less than or equal to 1"),
        ("train.gate_f1", -0.1, "greater than or equal to 0"),
        ("train.gate_f1", "0.7", "valid number"),
        ("generate.rows", 0, "greater than 0"),
        ("generate.rows", -5, "greater than 0"),
        ("generate.rows", 10.5, "valid integer"),
        ("generate.rows", True, "valid integer"),
        ("prepare.test_fraction", 0.0, "greater than 0"),
        ("prepare.test_fraction", 1.0, "less than 1"),
        ("train.model", "forest", "'logreg' or 'hgb'"),
        ("train.logreg.C", 0, "greater than 0"),
        ("monitor.last_n", 0, "greater than or equal to 1"),
        ("generate.traffic.shift.tenure_months", "a lot", "valid number"),
        ("generate.seed", -1, "greater than or equal to 0"),
        ("promote.champion", "48620A237171AA9D1FFAA23BC520FE14", "should match pattern"),  # DVC writes lowercase
        ("promote.champion", "d8aab982826e", "should match pattern"),  # a prefix is not a pin
        ("promote.champion", 0, "valid string"),
        ("promote.confidence", 0.4, "greater than or equal to 0.5"),
        ("promote.confidence", 1.0, "less than or equal to 0.999"),
        ("promote.min_gain", -0.01, "greater than or equal to 0"),
        ("promote.min_holdout", 1, "greater than or equal to 2"),
        ("promote.resamples", 99, "greater than or equal to 100"),
    ],
)
def test_bad_values_are_rejected_naming_the_dotted_key(dotted: str, value: object, fragment: str) -> None:
    with pytest.raises(ParamsError) as err:
        parse_params(with_value(dotted, value))
    assert f"params.yaml: {dotted}: " in str(err.value)
    assert fragment in str(err.value)


def test_the_judge_bound_needs_resamples_beyond_it_at_its_confidence() -> None:
    data = with_value("promote.confidence", 0.99)
    data["promote"]["resamples"] = 1000  # 10 beyond a 99 % bound: as noisy as the gain it bounds
    with pytest.raises(ParamsError, match=r"promote\.resamples: Value error, at confidence 0\.99 the lower "
                       r"bound needs at least 2000 resamples \(got 1000\)"):  # fmt: skip
        parse_params(data)
    data["promote"]["resamples"] = 2000
    assert parse_params(data).promote.resamples == 2000


def test_unknown_keys_are_rejected_at_any_depth() -> None:
    data = base()
    data["train"]["gate_fl"] = 0.7  # a typo must not silently fall back to the default
    data["train"]["hgb"]["depth"] = 3
    with pytest.raises(ParamsError) as err:
        parse_params(data)
    assert "train.gate_fl: Extra inputs are not permitted" in str(err.value)
    assert "train.hgb.depth: Extra inputs are not permitted" in str(err.value)


def test_every_key_must_be_set_so_a_rename_is_not_a_silent_default() -> None:
    data = base()
    data["train"]["gate_fl"] = data["train"].pop("gate_f1")
    del data["train"]["hgb"]["max_depth"]  # null is a value; an absent key is not
    with pytest.raises(ParamsError) as err:
        parse_params(data)
    message = str(err.value)
    assert "\n" not in message
    assert "params.yaml: train.gate_fl: Extra inputs are not permitted" in message
    assert "params.yaml: train.gate_f1: Field required" in message
    assert "params.yaml: train.hgb.max_depth: Field required" in message


def test_missing_section_and_non_mapping_are_rejected() -> None:
    data = base()
    del data["monitor"]
    with pytest.raises(ParamsError, match=r"params.yaml: monitor: Field required"):
        parse_params(data)
    with pytest.raises(ParamsError, match="expected a mapping"):
        parse_params(["generate"])


@pytest.mark.parametrize(
    ("dotted", "value", "fragment"),
    [
        ("generate.traffic.shift", {"plan": 1.0}, "'plan' is not a numeric feature"),
        ("generate.traffic.mix", {"tenure_months": {"a": 1.0}}, "is not a categorical feature"),
        ("generate.traffic.mix", {"plan": {"gold": 1.0}}, "unknown categories ['gold']"),
        ("generate.traffic.mix", {"plan": {"basic": 0.0}}, "must not all be zero"),
    ],
)
def test_traffic_shift_and_mix_are_checked_against_the_schema(dotted: str, value: object, fragment: str) -> None:
    with pytest.raises(ParamsError) as err:
        parse_params(with_value(dotted, value))
    assert dotted in str(err.value)
    assert fragment in str(err.value)


def test_file_level_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(bad)


def test_params_are_frozen() -> None:
    p = parse_params(base())
    with pytest.raises(Exception, match="frozen"):
        p.train.gate_f1 = 0.1  # type: ignore[misc]
