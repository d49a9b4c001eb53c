"""The report's chunks: the monitor's verdict on the same lines, CBPE's arithmetic, prod's bands."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from churnops.core import logformat
from churnops.core.trainstats import TrainStats
from churnops.monitor.check import check
from churnops.pipeline.generate import traffic_records
from churnops.report import overtime
from churnops.report.chunks import Chunking
from churnops.report.estimate import calibration, estimate
from churnops.report.groups import Expected, Group
from churnops.report.scan import scan, segments
from tests.utils.factories import default_rules

T0 = 1_790_000_000.0  # 2026-09-21T...Z


def served_lines(
    n: int, seed: int, t0: float = T0, version: str = "v1", step: float = 1.0, shift: dict[str, float] | None = None
) -> list[bytes]:
    """``n`` log lines as the service writes them, in batches of 100 one ``step`` apart."""
    recs = [r["features"] for r in traffic_records(seed, n, shift=shift)]
    p = np.random.default_rng(seed).random(n)
    out: list[bytes] = []
    for i in range(0, n, 100):
        e = logformat.BatchEntry(
            t0 + i * step,
            f"r{i}",
            version,
            recs[i : i + 100],
            p[i : i + 100].tolist(),
            (p[i : i + 100] >= 0.5).tolist(),
            1.0,
        )
        out += logformat.encode(e).splitlines(keepends=True)
    return out


BAD = [
    b'{"ts":"2026-09-21T00:00:00Z","features":{"plan":"gold","tenure_months":-3}}\n',
    b"not json\n",
    b'{"ts":"2026-09-21T00:00:00.000000Z","request_id":"x","kind":"rejected","errors":'
    b'[{"field":"plan","reason":"unknown category","value":"x"}]}\n',
    b"\n",
    b'{"features":{"tenure_months":NaN}}\n',
]


def test_each_chunks_verdict_equals_churnops_monitor_on_its_lines(tmp_path: Path, train_stats: TrainStats) -> None:
    lines = served_lines(1200, 1) + served_lines(600, 2, shift={"tenure_months": -20}) + served_lines(600, 3)
    for i, bad in enumerate(BAD * 8):
        lines.insert(37 * i + 5, bad)
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(lines) + b'{"ts":"cut')  # a write cut short: "partial"
    rules, n = default_rules(), 300
    scanner = scan(segments([log]), train_stats, Chunking(lines=n))
    kept = [x for x in lines if x.strip()] + [b'{"ts":"cut']
    assert sorted(scanner.groups) == list(range((len(kept) + n - 1) // n))
    statuses = set()
    for key, groups in scanner.groups.items():
        total = Group()
        for g in groups.values():
            total.merge(g)
        ours = total.drift(train_stats, rules)
        part = tmp_path / f"chunk{key}.jsonl"
        part.write_bytes(b"".join(kept[key * n : (key + 1) * n]))
        theirs = check(part, train_stats, rules, n).report
        statuses.add(theirs["status"])
        for field in ("status", "flagged", "lines", "invalid_fraction", "prediction"):
            assert ours[field] == theirs[field], (key, field)
        assert ours["quality"]["reasons"] == theirs["quality"]["reasons"]
        assert ours["quality"]["features"] == theirs["quality"]["features"]
        for name, r in theirs["features"].items():
            assert ours["features"][name]["drifted"] == r["drifted"]
            for stat in ("z", "psi", "chi2", "p_value"):
                want = r.get(stat)
                assert ours["features"][name].get(stat) == (want if want is None else pytest.approx(want, rel=1e-9))
    assert statuses == {"ok", "drift"}  # both verdicts are exercised


def test_chunks_by_time_and_versions_in_a_chunk(tmp_path: Path, train_stats: TrainStats) -> None:
    hour = 3600.0
    lines = served_lines(400, 1, t0=T0 - T0 % hour, step=1.0, version="a")
    lines += served_lines(400, 2, t0=T0 - T0 % hour + 1000, step=1.0, version="b")
    lines += served_lines(400, 3, t0=T0 - T0 % hour + hour + 10, step=1.0, version="b")
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(lines))
    scanner = scan(segments([log]), train_stats, Chunking.parse("1h"))
    assert [sorted(v, key=str) for _, v in sorted(scanner.groups.items())] == [["a", "b"], ["b"]]
    assert [g.lines for g in scanner.groups[min(scanner.groups)].values()] == [400, 400]


def test_cbpe_is_the_expected_confusion_matrix_and_the_interval_covers_simulated_outcomes() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(2, 3, 5000)
    decided = p >= 0.5
    e = Expected()
    e.add(p, decided)
    tp, fp, fn = p[decided].sum(), (1 - p[decided]).sum(), p[~decided].sum()
    est = estimate(e)
    assert est.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-12)
    inside = 0
    for seed in range(200):  # outcomes drawn from the probabilities: the realized F1 a calibrated model gets
        y = np.random.default_rng(seed + 1).random(p.size) < p
        t, f, n = (y & decided).sum(), (~y & decided).sum(), (y & ~decided).sum()
        inside += est.low <= 2 * t / (2 * t + f + n) <= est.high
    assert 0.90 <= inside / 200 <= 0.99


def test_calibration_of_calibrated_and_overconfident_probabilities() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(20000)
    y = rng.random(p.size) < p
    assert calibration(p, y)["ece"] < 0.02
    assert calibration(np.clip(p * 2 - 0.5, 0, 1), y)["ece"] > 0.1


def test_fail_on_conditions_parse_and_hold() -> None:
    c = overtime.Condition.parse("estimated_f1<0.7")
    assert c.holds({"estimated_f1": 0.6}) and not c.holds({"estimated_f1": 0.8}) and not c.holds({"estimated_f1": None})
    for bad in ("f1<0.7", "estimated_f1=0.7", "estimated_f1<abc", ""):
        with pytest.raises(overtime.ParamsError):
            overtime.Condition.parse(bad)


def test_a_condition_no_chunk_can_be_checked_against_is_said_not_passed_in_silence() -> None:
    conditions = [overtime.Condition.parse(c) for c in ("estimated_f1<0.7", "realized_f1<0.7", "drifted>0")]
    report = {"chunks": [{"estimated_f1": None, "realized_f1": 0.8, "drifted": 0}, {"estimated_f1": None}]}
    assert overtime.unchecked(report, conditions) == [
        "--fail-on estimated_f1<0.7: not checked: estimated_f1 is missing in every chunk "
        "(no logged decisions to estimate from)"
    ]
    assert overtime.failures(report, conditions) == []


def test_version_bands_follow_a_promotion_and_a_rollback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from churnops.versioning import registry
    from tests.utils.service import git

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@churnops.invalid")
    a, b = "a" * 32, "b" * 32
    moves = [
        ("promote", a, "2026-09-21T10:00:00Z"),
        ("promote", b, "2026-09-21T12:00:00Z"),
        ("rollback", a, "2026-09-21T13:30:00Z"),
    ]
    for action, md5, when in moves:
        monkeypatch.setenv("GIT_AUTHOR_DATE", when)
        monkeypatch.setenv("GIT_COMMITTER_DATE", when)
        change = registry.Change(action, registry.PROD, registry.Entry(md5, "c" * 40), subject=f"{action} {md5[:4]}")
        registry.write(repo, change, expect=registry.read(repo))
    bands, note = overtime.bands(repo)
    assert note is None
    assert [(x["model_version"], x["entered"], x["left"]) for x in bands] == [
        (a, "2026-09-21T10:00:00Z", "2026-09-21T12:00:00Z"),
        (b, "2026-09-21T12:00:00Z", "2026-09-21T13:30:00Z"),
        (a, "2026-09-21T13:30:00Z", None),
    ]
    assert [x["left_by"] for x in bands] == ["promote", "rollback", None]
    assert os.environ["GIT_AUTHOR_DATE"] == moves[-1][2]
