"""`churnops monitor` and the monitor stage on real files: exit codes, messages, outputs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from churnops.cli import main
from churnops.commands.common import exit_code
from churnops.core.errors import InputError
from churnops.core.io import write_jsonl
from churnops.core.trainstats import TrainStats
from churnops.monitor.check import check
from churnops.pipeline.generate import traffic_records
from tests.utils.factories import default_rules
from tests.utils.project import REPO_ROOT, fixture_params, set_params


def write_log(path: Path, rows: int = 400, seed: int = 11, **kwargs) -> Path:
    write_jsonl(path, traffic_records(seed, rows, **kwargs))
    return path


def monitor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["monitor", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ok_log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "ok.jsonl", seed=11)


@pytest.fixture
def drifted_log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "drifted.jsonl", shift={"tenure_months": -24})


@pytest.fixture
def no_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a directory holding only the fixture params.yaml (the thresholds' one source)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "params.yaml").write_text(fixture_params())
    monkeypatch.chdir(cwd)
    return cwd


def test_ok_log_exits_0_and_prints_the_table(capsys, no_params, ok_log: Path, stats_file: Path) -> None:
    code, out, _ = monitor(capsys, "--log", str(ok_log), "--stats", str(stats_file), "--fail-on-drift")
    assert code == 0, out
    assert out.startswith("status: ok")
    assert "tenure_months" in out and "prediction" in out


def test_without_a_params_file_it_asks_for_one_and_says_which_it_used(capsys, no_params, ok_log, stats_file) -> None:
    code, out, err = monitor(capsys, "--log", str(ok_log), "--stats", str(stats_file))
    assert code == 0 and err == "" and "params: params.yaml" in out
    (no_params / "params.yaml").rename(no_params / "mine.yaml")
    code, out, err = monitor(capsys, "--log", str(ok_log), "--stats", str(stats_file))
    (line,) = err.strip().splitlines()
    assert code == 2 and "no params.yaml in" in line and "--params FILE" in line and out == ""
    code, out, _ = monitor(capsys, "--log", str(ok_log), "--stats", str(stats_file), "--params", "mine.yaml")
    assert code == 0 and "params: mine.yaml" in out


def test_drift_exits_1_only_with_fail_on_drift(capsys, no_params, drifted_log: Path, stats_file: Path) -> None:
    args = ("--log", str(drifted_log), "--stats", str(stats_file))
    code, out, _ = monitor(capsys, *args)
    assert code == 0 and out.startswith("status: drift") and "tenure_months" in out.splitlines()[0]
    code, _, _ = monitor(capsys, *args, "--fail-on-drift")
    assert code == 1


def test_out_writes_the_report_and_flags_override_params(capsys, no_params, ok_log: Path, stats_file: Path) -> None:
    out_file = no_params / "reports" / "drift.json"
    params = no_params / "params.yaml"
    params.write_text(fixture_params())
    code, _, _ = monitor(
        capsys, "--log", str(ok_log), "--stats", str(stats_file), "--out", str(out_file), "--last-n", "120",
        "--z-threshold", "3.5",
    )  # fmt: skip
    assert code == 0
    report = json.loads(out_file.read_text())
    assert (report["lines"], report["last_n"]) == (120, 120)
    assert (report["thresholds"]["z_threshold"], report["thresholds"]["min_samples"]) == (3.5, 30)


def test_missing_log_is_insufficient_data_said_once(capsys, no_params, tmp_path, stats_file) -> None:
    code, out, err = monitor(
        capsys, "--log", str(tmp_path / "nope.jsonl"), "--stats", str(stats_file), "--fail-on-drift"
    )
    assert (code, err) == (0, "")  # stderr is for the reason of a failing exit
    assert out.startswith(f"status: insufficient_data  (log {tmp_path / 'nope.jsonl'} not found (has a service")
    assert out.count("not found") == 1


def test_empty_log_is_insufficient_data_said_once(capsys, no_params, tmp_path, stats_file) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    code, out, err = monitor(capsys, "--log", str(tmp_path / "empty.jsonl"), "--stats", str(stats_file))
    assert (code, err) == (0, "")
    assert out.startswith("status: insufficient_data") and out.count("is empty") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--last-n", "0"], "--last-n: Input should be greater than or equal to 1 (got '0')"),
        (["--last-n", "20000000"], "--last-n: Input should be less than or equal to 10000000"),
        (["--last-n", "ten"], "--last-n: Input should be a valid integer, unable to parse string as an integer"),
        (["--z-threshold", "-1"], "--z-threshold: Input should be greater than 0"),
        (["--z-threshold", "nan"], "--z-threshold: Input should be greater than 0"),
        (["--stats", "missing.json"], "missing.json: training statistics not found"),
        (["--params", "missing.yaml"], "missing.yaml: params file not found"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, no_params, ok_log, stats_file, argv, message) -> None:
    base = ["--log", str(ok_log), "--stats", str(stats_file)]
    code, out, err = monitor(capsys, *base, *argv)
    assert code == 2
    assert err.startswith("churnops monitor: ") and message in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_unreadable_log_and_bad_stats_exit_2(capsys, no_params, tmp_path, ok_log, stats_file) -> None:
    (tmp_path / "adir").mkdir()
    code, _, err = monitor(capsys, "--log", str(tmp_path / "adir"), "--stats", str(stats_file))
    assert code == 2 and "cannot read" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad_stats.json"
    bad.write_text('{"churn_rate": 0.3}')
    code, _, err = monitor(capsys, "--log", str(ok_log), "--stats", str(bad))
    assert code == 2 and "not valid training statistics" in err


def test_corrupt_lines_are_counted_in_the_window(tmp_path: Path, train_stats: TrainStats) -> None:
    log = write_log(tmp_path / "p.jsonl", rows=100)
    with open(log, "ab") as fh:
        fh.write(b'\x00\x01garbage\n{"features": {"plan": "gold"}}\n{"truncat')
    report = check(log, train_stats, default_rules(), 50).report
    q = report["quality"]
    assert report["lines"] == 50 and q["invalid_lines"] == 3 and report["invalid_fraction"] == 0.06
    assert {k: v["lines"] for k, v in q["reasons"].items()} == {"binary": 1, "partial": 1, "schema": 1}
    assert q["unseen_categories"] == {"plan": {"gold": 1}}
    # The record with plan "gold" has no other feature: every other one is reported missing.
    assert q["features"]["tenure_months"] == {"missing": {"lines": 1, "share": 0.02}}
    assert report["status"] == "drift" and report["flagged"] == ["invalid_lines"]


def test_check_never_modifies_the_log(tmp_path: Path, train_stats: TrainStats) -> None:
    log = write_log(tmp_path / "p.jsonl", rows=300)
    digest = hashlib.sha256(log.read_bytes()).hexdigest()
    stat = log.stat()
    check(log, train_stats, default_rules(), 200)
    assert hashlib.sha256(log.read_bytes()).hexdigest() == digest
    assert (log.stat().st_mtime_ns, log.stat().st_size) == (stat.st_mtime_ns, stat.st_size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]


def test_check_raises_input_error_for_unreadable_log(tmp_path: Path, train_stats: TrainStats) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError) as info:
        check(tmp_path / "d", train_stats, default_rules(), 10)
    assert exit_code(info.value) == 2


def test_stage_reports_drift_without_failing(tmp_path: Path, stats_file: Path) -> None:
    log = write_log(tmp_path / "p.jsonl", shift={"tenure_months": -24})
    out, plots = tmp_path / "metrics" / "drift.json", tmp_path / "metrics" / "drift_plots"
    details = tmp_path / "metrics" / "details" / "monitor.json"
    params = tmp_path / "params.yaml"
    params.write_text(fixture_params())
    set_params(tmp_path, {"monitor.log": str(log)})
    proc = subprocess.run(
        [sys.executable, "stages/monitor.py", "--params", str(params), "--stats", str(stats_file),
         "--out", str(out), "--details", str(details), "--plots", str(plots)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == {
        "status": "drift",
        "flagged": "tenure_months prediction",
        "invalid_fraction": 0.0,
    }
    report = json.loads(details.read_text())
    assert report["status"] == "drift" and report["features"]["tenure_months"]["drifted"]
    assert sorted(p.name for p in plots.iterdir()) == sorted(
        f"{n}.json" for n in ("tenure_months", "num_complaints", "avg_session_minutes", "plan", "region")
    )
    rows = json.loads((plots / "plan.json").read_text())
    assert {r["source"] for r in rows} == {"train", "recent"}
    assert str(tmp_path) not in out.read_text()  # no absolute paths in the metric
    assert {r["series"] for r in json.loads((plots / "tenure_months.json").read_text())} == {"train", "recent, flagged"}


def test_dvc_yaml_monitor_stage_lists_every_monitor_param_and_the_default_log() -> None:
    # The stage reads monitor.log itself (DVC cannot interpolate a list), so the DAG edge
    # to generate's simulated log is a dep written out: hold the copies together.
    import yaml

    from churnops.core.params import MonitorParams

    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    stage = stages["monitor"]
    assert set(stage["params"]) == {f"monitor.{k}" for k in MonitorParams.model_fields}
    default_log = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["monitor"]["log"]
    assert default_log in stage["deps"] and default_log in stages["generate"]["outs"]
    assert f"--traffic-out {default_log}" in stages["generate"]["cmd"]
    # The terminal table is the CLI's, not the stage's: restyling it re-runs nothing
    # (tests/stages/test_stage_deps.py holds every stage's code deps to its import closure).
    assert "churnops/monitor/table.py" not in stage["deps"]
