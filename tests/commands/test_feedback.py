"""`churnops feedback` (the report) on real files: which logs it reads, its exit codes and its table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churnops.cli import main
from churnops.commands.common import USAGE
from churnops.core.logformat import RowEntry, encode
from tests.utils.factories import GOOD_CUSTOMER
from tests.utils.project import fixture_params, set_params

T0 = 1_700_000_000.0


def feedback(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["feedback", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with the fixture params.yaml, a log of two customers and their labels; the cwd."""
    (tmp_path / "params.yaml").write_text(fixture_params())
    (tmp_path / "p.jsonl").write_bytes(
        encode(RowEntry(T0, "a", "v1", GOOD_CUSTOMER, 0.9, True, 1.0, "c1"))
        + encode(RowEntry(T0 + 1, "b", "v1", GOOD_CUSTOMER, 0.1, False, 1.0, "c2"))
    )
    (tmp_path / "labels.csv").write_text("customer_id,churn\nc1,1\nc2,0\nc3,1\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_missing_log_is_one_line_naming_it_and_exit_2(capsys, project: Path) -> None:
    code, out, err = feedback(capsys, "--log", "missing.jsonl", "--labels", "labels.csv")
    assert (code, out) == (USAGE, "")
    assert one_line(err) == "churnops feedback: --log missing.jsonl: no such log (nor rotated missing.jsonl.1, .2, ...)"


@pytest.mark.parametrize(
    ("logs", "culprit"),
    [
        (["p.jsonl", "gone.jsonl"], "gone.jsonl"),  # one replica of two is missing
        (["gone-1.jsonl", "gone-2.jsonl"], "gone-1.jsonl"),  # none of several exists: the first is named
        (["logs/*/predictions.jsonl"], "logs/*/predictions.jsonl"),  # a pattern the shell left unexpanded
    ],
    ids=["one-of-two", "none-of-two", "unmatched-glob"],
)
def test_several_logs_or_a_glob_that_name_no_file_exit_2(capsys, project: Path, logs: list[str], culprit: str) -> None:
    argv = [arg for log in logs for arg in ("--log", log)]
    code, out, err = feedback(capsys, *argv, "--labels", "labels.csv")
    assert (code, out) == (USAGE, "")
    assert one_line(err).startswith(f"churnops feedback: --log {culprit}: no such log")


def test_rotated_files_of_a_log_are_read_with_it(capsys, project: Path) -> None:
    (project / "p.jsonl.1").write_bytes(encode(RowEntry(T0 - 5, "z", "v0", GOOD_CUSTOMER, 0.8, True, 1.0, "c3")))
    code, out, err = feedback(capsys, "--log", "p.jsonl", "--labels", "labels.csv", "--min-labels", "1")
    assert (code, err) == (0, "")
    assert "unmatched labels: 0" in out  # c3 is only in the rotated file
    (project / "p.jsonl").rename(project / "p.jsonl.2")  # a live file rotated away, its backups left
    code, out, _ = feedback(capsys, "--log", "p.jsonl", "--labels", "labels.csv", "--min-labels", "1")
    assert code == 0 and "unmatched labels: 0" in out


def test_an_unreadable_log_exits_2(capsys, project: Path) -> None:
    (project / "adir").mkdir()
    code, _, err = feedback(capsys, "--log", "adir", "--labels", "labels.csv")
    assert code == USAGE and "adir" in one_line(err) and "cannot read the log" in err


HEADERS = ["model_version", "n_labeled", "f1", "precision", "recall", "roc_auc", "mean_probability",
           "observed_churn_rate"]  # fmt: skip


def test_the_table_has_whole_headers_and_a_row_per_model_version(capsys, project: Path) -> None:
    (project / "p.jsonl").write_bytes(
        (project / "p.jsonl").read_bytes()
        + encode(RowEntry(T0 + 2, "c", "e" * 32, GOOD_CUSTOMER, 0.7, True, 1.0, "c3"))  # an md5-long version
    )
    code, out, _ = feedback(capsys, "--log", "p.jsonl", "--labels", "labels.csv", "--min-labels", "1")
    assert code == 0
    lines = [line for line in out.splitlines() if line.strip() and not set(line.strip()) <= set("─- ")]
    assert lines[0].split() == HEADERS
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:4]}
    assert rows["e" * 32] == ["1", "1.000", "1.000", "1.000", "-", "0.700", "1.000"]
    assert rows["v1"] == ["2", "1.000", "1.000", "1.000", "1.000", "0.500", "0.500"]
    assert rows["all"][0] == "3"
    assert lines[4].startswith("status: ok ")


@pytest.mark.parametrize(
    ("min_f1", "gate_f1", "status"),
    [(0.5, 0.0, "degraded"), (0.0, 0.99, "ok")],
    ids=["below-min_f1", "below-only-the-gate"],
)
def test_degraded_is_live_f1_below_feedback_min_f1_as_in_the_stage(
    capsys, project: Path, min_f1: float, gate_f1: float, status: str
) -> None:
    """One rule for the word, the feedback stage's (labeljoin.report, feedback.min_f1); train.gate_f1 is the build's."""
    (project / "labels.csv").write_text("customer_id,churn\nc1,0\nc2,1\n")  # both predictions wrong: f1 0
    set_params(project, {"feedback.min_f1": min_f1, "train.gate_f1": gate_f1})
    argv = ["--log", "p.jsonl", "--labels", "labels.csv", "--min-labels", "1", "--out", "rep.json"]
    code, out, err = feedback(capsys, *argv)
    assert (code, err) == (0, "")
    assert f"status: {status} (min_f1={min_f1:.3f}, min_labels=1)" in out
    rep = json.loads((project / "rep.json").read_text())
    assert (rep["status"], rep["min_f1"], "gate_f1" in rep) == (status, min_f1, False)
    code, _, err = feedback(capsys, *argv, "--fail-on-degraded")
    if status == "degraded":
        assert code == 1
        assert one_line(err) == "churnops feedback: degraded: live f1 0.000 < feedback.min_f1 0.500"
    else:
        assert (code, err) == (0, "")


def test_fail_on_degraded_names_the_param_in_its_help(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["feedback", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--fail-on-degraded exit 1 when live F1 < feedback.min_f1" in help_text
    assert "gate_f1" not in help_text
