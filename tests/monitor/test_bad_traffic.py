"""What production sends when it goes wrong: each case exits 1 with --fail-on-drift and names its cause.

Logs are written to tmp_path in the service's format (predictions, and rejection records
for requests the API refused), then ``churnops monitor`` runs on them as cron would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import orjson
import pytest

from churnops.cli import main
from churnops.core import logformat, trainstats
from churnops.monitor.check import check
from churnops.pipeline.generate import traffic_records
from tests.utils.factories import default_params, default_rules
from tests.utils.project import fixture_params


def write(path: Path, records: Iterable[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        for r in records:
            fh.write(orjson.dumps(r) + b"\n")
    return path


def clean(seed: int, rows: int, **kwargs) -> list[dict]:
    return list(traffic_records(seed, rows, **kwargs))


def with_feature(records: list[dict], name: str, value, every: int = 1) -> list[dict]:
    """Set one feature to ``value`` in every ``every``-th record."""
    out = []
    for i, r in enumerate(records):
        if i % every == 0:
            r = {**r, "features": {**r["features"], name: value}}
        out.append(r)
    return out


def rejection(i: int, value: str = "enterprise", field: str = "plan") -> dict:
    """A rejection record for a 422, encoded by the log format's owner as the service writes it."""
    errors = [
        logformat.RejectedValue(field, item, logformat.UNKNOWN_CATEGORY, value, f"items.{item}.{field}")
        for item in (0, 3)
    ]
    entry = logformat.RejectionEntry(1_700_000_000 + i, f"rej-{i}", "/predict/batch", errors, n_errors=2)
    return json.loads(logformat.encode(entry))


def monitor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["monitor", *argv, "--fail-on-drift"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "params.yaml").write_text(fixture_params())
    monkeypatch.chdir(cwd)


def test_an_unseen_category_in_30_percent_of_the_newest_lines(capsys, tmp_path, stats_file) -> None:
    # Older clean traffic must not fill the window in place of the bad lines.
    log = write(tmp_path / "p.jsonl", clean(1, 2000))
    write(log, with_feature(clean(2, 200), "plan", "enterprise", every=3))  # 67 of 200
    code, out, err = monitor(capsys, "--log", str(log), "--stats", str(stats_file))
    assert code == 1, out
    assert "invalid lines 33.5% of 200" in err and "plan: unseen_category 67" in err and "'enterprise' 67" in err
    assert "unseen plan categories: 'enterprise' 67" in out


def test_an_unseen_category_in_all_of_a_short_log_is_drift_not_insufficient_data(capsys, tmp_path, stats_file) -> None:
    log = write(tmp_path / "p.jsonl", with_feature(clean(3, 300), "plan", "enterprise"))
    code, out, err = monitor(capsys, "--log", str(log), "--stats", str(stats_file))
    assert code == 1 and out.startswith("status: drift")
    assert "invalid lines 100.0% of 200" in err and "'enterprise' 200" in err


def test_nulls_in_40_percent_of_the_newest_lines(capsys, tmp_path, stats_file) -> None:
    log = write(tmp_path / "p.jsonl", clean(4, 1000))
    records = clean(5, 200)
    records = [
        {**r, "features": {**r["features"], "tenure_months": None}} if i % 5 in (0, 1) else r
        for i, r in enumerate(records)
    ]
    write(log, records)
    code, _, err = monitor(capsys, "--log", str(log), "--stats", str(stats_file))
    assert code == 1
    assert "invalid lines 40.0% of 200" in err and "tenure_months: null 80" in err


def test_out_of_range_values_in_20_percent_are_flagged(tmp_path, train_stats) -> None:
    log = write(tmp_path / "p.jsonl", with_feature(clean(6, 500), "num_complaints", -3, every=5))
    report = check(log, train_stats, default_rules(), 200).report
    assert report["status"] == "drift" and "invalid_lines" in report["flagged"]
    assert report["quality"]["features"]["num_complaints"] == {"out_of_range": {"lines": 40, "share": 0.2}}


def test_shifted_features_in_records_without_probabilities(capsys, tmp_path, stats_file) -> None:
    records = [{k: v for k, v in r.items() if k != "churn_probability"} for r in clean(7, 400)]
    shifted = clean(8, 200, shift={"tenure_months": -24})
    records += [{k: v for k, v in r.items() if k != "churn_probability"} for r in shifted]
    log = write(tmp_path / "p.jsonl", records)
    code, out, err = monitor(capsys, "--log", str(log), "--stats", str(stats_file))
    assert code == 1
    assert "drift in tenure_months (z, psi)" in err
    assert "invalid_lines" not in err  # a record without a probability still carries valid inputs
    assert f"prediction: not checked, fewer than {default_rules().min_samples} valid churn_probability values" in out


def test_rejected_requests_carrying_a_new_category(capsys, tmp_path, stats_file) -> None:
    log = write(tmp_path / "p.jsonl", clean(9, 1000))
    records: list[dict] = []
    for i, r in enumerate(clean(10, 150)):
        records.append(r)
        if i % 2:
            records.append(rejection(i))  # 75 refused requests among 150 served
    write(log, records)
    code, _out, err = monitor(capsys, "--log", str(log), "--stats", str(stats_file), "--last-n", "225")
    assert code == 1
    assert (
        "invalid lines 33.3% of 225" in err
        and "rejected 75" in err
        and "plan: unseen_category 75" in err
        and "'enterprise' 150" in err
    )


def test_rejections_not_about_a_feature_are_counted_by_the_services_reason(tmp_path, train_stats) -> None:
    errors = [logformat.RejectedValue(None, None, logformat.UNKNOWN_KEY, 1, "colour")]
    body = json.loads(logformat.encode(logformat.RejectionEntry(1_700_000_000, "r", "/predict", errors, n_errors=1)))
    container = [logformat.RejectedValue("plan", None, logformat.WRONG_TYPE, {"a": 1}, "plan")]
    wrong = json.loads(
        logformat.encode(logformat.RejectionEntry(1_700_000_001, "s", "/predict", container, n_errors=1))
    )
    log = write(tmp_path / "p.jsonl", clean(11, 188) + [body] * 10 + [wrong] * 2)
    q = check(log, train_stats, default_rules(), 200).report["quality"]
    assert q["reasons"]["rejected"] == {"lines": 12, "share": 0.06}
    assert q["rejected_reasons"] == {logformat.UNKNOWN_KEY: 10, logformat.WRONG_TYPE: 2}
    # An object sent as plan is logged as its type name: a wrong type, not an unseen category "object".
    assert q["features"] == {"plan": {"wrong_type": {"lines": 2, "share": 0.01}}} and q["unseen_categories"] == {}


def test_spread_times_1_5_at_last_n_500_in_90_percent_of_seeds(capsys, tmp_path, stats_file, train_stats) -> None:
    mean = train_stats.numeric["avg_session_minutes"].mean
    seeds, caught = 30, 0
    for seed in range(seeds):
        records = clean(100 + seed, 500)
        for r in records:
            x = mean + 1.5 * (r["features"]["avg_session_minutes"] - mean)
            r["features"]["avg_session_minutes"] = float(np.clip(round(x, 1), 0, 1440))
        log = write(tmp_path / f"s{seed}.jsonl", records)
        code, _, err = monitor(capsys, "--log", str(log), "--stats", str(stats_file), "--last-n", "500")
        caught += code == 1 and re.search(r"avg_session_minutes \((z, )?psi\)", err) is not None
    assert caught / seeds >= 0.9


def test_two_replica_logs_are_one_window(capsys, tmp_path, stats_file) -> None:
    def stamped(records: list[dict], start: int) -> list[dict]:
        return [{**r, "ts": f"2025-01-01T00:{(start + 2 * i) // 60:02d}:{(start + 2 * i) % 60:02d}Z"} for i, r in
                enumerate(records)]  # fmt: skip

    # Replica a is healthy; replica b sends an unknown plan. Each alone is a different story.
    a = write(tmp_path / "a" / "predictions.jsonl", stamped(clean(12, 150), 0))
    b = write(tmp_path / "b" / "predictions.jsonl", stamped(with_feature(clean(13, 150), "plan", "gold"), 1))
    code, _, err = monitor(capsys, "--log", str(a), "--log", str(b), "--stats", str(stats_file), "--last-n", "100")
    assert code == 1 and "invalid lines 50.0% of 100" in err and "'gold' 50" in err
    # A glob in monitor.log (or --log) reads the same two files.
    code, out, _ = monitor(capsys, "--log", str(tmp_path / "*" / "predictions.jsonl"), "--stats", str(stats_file),
                           "--last-n", "100")  # fmt: skip
    assert code == 1 and "lines: 100 of last_n=100; invalid: 50" in out
    params = default_params().monitor.model_copy(update={"log": [str(a), str(b)], "last_n": 100})
    report = check(params.log, trainstats.load(stats_file), default_rules(), params.last_n).report
    assert report["quality"]["invalid_lines"] == 50
