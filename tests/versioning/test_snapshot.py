"""churnops feedback snapshot: the labeled part of the log, versioned; the join on it equals the join on all of it."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from churnops.cli import main
from churnops.commands.common import FAILURE, OK, USAGE
from churnops.core.logformat import RejectedValue, RejectionEntry, RowEntry, encode
from churnops.core.tracking import versioned
from churnops.pipeline import labeljoin as fb
from churnops.versioning import snapshot
from tests.pipeline.test_labeljoin import FEATURES, T0, write_labels, write_log
from tests.utils.project import run

SNAP = "data/feedback/snapshot"


class HalfScorer:
    """Scores records that carry no decision (generated traffic): a fixed probability, a fixed threshold."""

    threshold = 0.5

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.array([0.25 + 0.5 * (r["tenure_months"] < 5) for r in records])


def tricky_lines() -> bytes:
    """Lines the pre-filter must not misjudge, and ones the join ignores."""
    row = encode(RowEntry(T0 + 5, "t1", "v2", FEATURES, 0.9, True, 1.0, "c7"))
    return b"".join(
        [
            row.replace(b'"customer_id"', b'"customer\\u005fid"'),  # escaped key: still c7 to the parser
            row.replace(b'"customer_id":', b'"customer_id" : '),  # JSON whitespace
            row.replace(b'"c7"', b'"c9999"'),  # nobody's label
            # unlabeled customers whose features name a labeled one (escaped, and plainly)
            encode(RowEntry(T0, "t2", "v2", {**FEATURES, "region": '"customer_id":"c7"'}, 0.1, False, 1.0, "c9999")),
            encode(RowEntry(T0, "t3", "v2", {**FEATURES, "customer_id": "c7"}, 0.1, False, 1.0, "c9999")),
            # generated traffic: no decision, no ts; c310 has a label and no other prediction
            b'{"customer_id":"c310","features":{"tenure_months":2,"plan":"basic",'
            b'"num_complaints":0,"avg_session_minutes":3.0,"region":"south"},"source":"simulated"}\n',
            b'{"customer_id":"c8","churn_probability":0.5}\n',  # no features: not joinable
            b'{"customer_id":"c8","kind":"rejected"}\n',
            encode(RejectionEntry(T0, "r", "/predict", [RejectedValue("plan", None, "missing", None, "plan")], 1)),
            b"\x00\xff binary\n",
            b"[1, 2]\n",
        ]
    )


def tie(churn: bool) -> bytes:
    """A prediction for c311 (labeled, no observed_at) at one fixed ts: only its place in the log orders it."""
    return encode(RowEntry(T0 - 60, "tie", "v1", FEATURES, 0.9 if churn else 0.1, churn, 1.0, "c311"))


def write_logs(tmp: Path, seed: int) -> list[Path]:
    """Two replicas, each a live file and rotated ones; one file ends without a newline.

    c311's two predictions tie on ts, oldest file first: a snapshot that changed the order
    of files would join the other one.
    """
    logs = []
    for replica in (0, 1):
        whole = tmp / f"whole-{replica}.jsonl"
        write_log(whole, seed + 10 * replica)
        lines = whole.read_bytes().splitlines(keepends=True)
        live = tmp / f"p{replica}.jsonl"
        thirds = len(lines) // 3
        (tmp / f"p{replica}.jsonl.2").write_bytes(tie(replica == 1) + b"".join(lines[:thirds]) + tricky_lines())
        (tmp / f"p{replica}.jsonl.1").write_bytes(b"".join(lines[thirds : 2 * thirds]).rstrip(b"\n"))
        live.write_bytes(b"".join(lines[2 * thirds :]) + tie(replica == 0))
        whole.unlink()
        logs.append(live)
    return logs


def outputs(logs: Sequence[Path], labels: Path) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """What the feedback stage computes: the joined rows, the report and the labeled dataset."""
    got = fb.read_labels(labels)
    frame, unmatched = fb.join(got.labels, fb.log_source(logs), HalfScorer(), "champion")  # type: ignore[arg-type]
    rep = fb.report(frame, unmatched, got.skipped, 0.7, 100)
    return frame, rep, fb.labeled_dataset(frame, 100_000, 0.3)


@pytest.fixture(scope="module")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare DVC project in a Git work tree: logs/ ignored, one stage with an uncached output."""
    from dvc.repo import Repo

    root = tmp_path_factory.mktemp("template") / "project"
    root.mkdir()
    run(["git", "init", "-q", "-b", "main"], root)
    Repo.init(str(root)).close()
    (root / ".gitignore").write_text("logs/\n")
    stage = {"cmd": "echo", "outs": [{"plots": {"cache": False}}]}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": stage}}))
    return root


@pytest.fixture
def project(project_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(project_template, tmp_path / "project"))


def tree(root: Path, rel: str = SNAP) -> dict[str, bytes]:
    """The snapshot's bytes: its files, its .dvc file and its directory's .gitignore."""
    d = root / rel
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
    for extra in (d.with_name(f"{d.name}.dvc"), d.parent / ".gitignore"):
        if extra.exists():
            files[extra.relative_to(root).as_posix()] = extra.read_bytes()
    return files


def snap(project: Path, logs: Sequence[Path], labels: Path, *extra: str) -> int:
    argv = ["feedback", "snapshot", "--repo", str(project), "--labels", str(labels), *extra]
    return main([*argv, *(a for log in logs for a in ("--log", str(log)))])


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def ordered_subsequence(part: list[bytes], whole: Iterator[bytes]) -> bool:
    return all(any(line == w for w in whole) for line in part)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_stage_outputs_on_a_snapshot_equal_those_on_the_whole_log(
    project: Path, tmp_path: Path, seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    logs, labels = write_logs(tmp_path, seed), tmp_path / "labels.csv"
    write_labels(labels, seed)
    assert snap(project, logs, labels) == OK
    snap_log, snap_labels = project / SNAP / snapshot.PREDICTIONS, project / SNAP / "labels.csv"

    frame, rep, data = outputs(logs, labels)
    s_frame, s_rep, s_data = outputs([snap_log], snap_labels)
    assert s_rep == rep
    pd.testing.assert_frame_equal(s_data, data)
    # Only positions differ (fewer lines), and they only order: same rows, same order.
    pd.testing.assert_frame_equal(s_frame.drop(columns="order_pos"), frame.drop(columns="order_pos"))
    assert rep["n_labeled"] > 100 and rep["n_unscored"] == 0 and "champion" in rep["per_model_version"]

    assert snap_labels.read_bytes() == labels.read_bytes()
    kept = snap_log.read_bytes().splitlines(keepends=True)
    everything = list(fb.log_lines(logs))
    assert len(kept) < len(everything) and all(line.endswith(b"\n") for line in kept)
    assert ordered_subsequence([k.rstrip(b"\n") for k in kept], (w.rstrip(b"\n") for w in everything))
    kept_bytes = snap_log.read_bytes()
    assert b'"customer\\u005fid":"c7"' in kept_bytes and b'"customer_id" : "c7"' in kept_bytes
    assert b"c9999" not in kept_bytes and b"c310" in kept_bytes
    out = capsys.readouterr().out
    assert f"{len(kept)} of {len(everything)} log lines (6 file(s))" in out


def row(i: int) -> bytes:
    return encode(RowEntry(T0 + i, f"r{i}", "v1", FEATURES, 0.2, False, 1.0, f"c{i}"))


def test_cli_output_dvc_file_and_replacing_a_snapshot(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, labels = tmp_path / "p.jsonl", tmp_path / "labels.jsonl"
    log.write_bytes(b"".join(row(i) for i in range(5)))
    labels.write_text('{"customer_id": "c1", "churn": 1}\n{"customer_id": "c3", "churn": 0}\n{"churn": 1}\n')
    assert snap(project, [log], labels) == OK
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"wrote {SNAP}/predictions.jsonl: 2 of 5 log lines (1 file(s)), the predictions of 2 of 2 labeled customers",
        f"wrote {SNAP}/labels.jsonl: 2 labels, copied as is (1 row(s) skipped, bad customer_id: 1)",
        f"dvc add {SNAP}: wrote {SNAP}.dvc",
        "set in params.yaml, under feedback:",
        f"  log: {SNAP}/predictions.jsonl",
        f"  labels: {SNAP}/labels.jsonl",
        f"git add {SNAP}.dvc data/feedback/.gitignore",
        "then dvc repro, commit with params.yaml and dvc.lock, and dvc push (a clone pulls the snapshot)",
    ]
    first = tree(project)
    dvc_file = yaml.safe_load(first[f"{SNAP}.dvc"])
    assert dvc_file["outs"][0]["path"] == "snapshot" and dvc_file["outs"][0]["nfiles"] == 2
    assert "/snapshot" in first["data/feedback/.gitignore"].decode().splitlines()
    assert run(["git", "check-ignore", "-q", f"{SNAP}.dvc"], project, check=False).returncode == 1

    # Replaced: new labels in a new format, the old file gone, nothing left beside it.
    labels2 = tmp_path / "labels.csv"
    labels2.write_text("customer_id,churn\nc4,1\n")
    assert snap(project, [log], labels2) == OK
    second = tree(project)
    assert sorted(p.name for p in (project / SNAP).iterdir()) == ["labels.csv", "predictions.jsonl"]
    assert second[f"{SNAP}/labels.csv"] == labels2.read_bytes()
    assert second[f"{SNAP}/predictions.jsonl"] == row(4)
    assert second[f"{SNAP}.dvc"] != first[f"{SNAP}.dvc"]
    beside = sorted(p.name for p in (project / "data" / "feedback").iterdir())
    assert beside == [".gitignore", "snapshot", "snapshot.dvc"]
    assert run(["dvc", "status", "--json", f"{SNAP}.dvc"], project).stdout.strip() == "{}"


@pytest.mark.parametrize(
    ("case", "culprit"),
    [
        ("missing log", "nope.jsonl: no such log"),
        ("log is a directory", "cannot read the log"),
        ("missing labels", "nope.csv: cannot read labels"),
        ("labels without the columns", "lacks column(s) ['customer_id', 'churn']"),
        ("labels without a usable row", "no usable label (bad customer_id: 1)"),
        ("out in the ignored logs/", "Git ignores it (.gitignore:1:logs/)"),
        ("out outside the project", "not inside the project"),
        ("out is the project root", "data/..: not inside the project"),
        ("out is another directory", "exists and is not a feedback snapshot (it holds feedback)"),
        ("out is a file", "exists and is not a directory"),
        ("no DVC project", "no DVC project at"),
        ("no project", "no churnops project found"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_the_old_snapshot_is_kept(
    project: Path, tmp_path: Path, case: str, culprit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    log, labels = tmp_path / "p.jsonl", tmp_path / "labels.csv"
    log.write_bytes(encode(RowEntry(T0, "r", "v1", FEATURES, 0.2, False, 1.0, "c1")))
    labels.write_text("customer_id,churn\nc1,1\n")
    assert snap(project, [log], labels) == OK
    before = tree(project)
    capsys.readouterr()
    extra: list[str] = []
    if case == "missing log":
        log = tmp_path / "nope.jsonl"
    elif case == "log is a directory":
        log = tmp_path
    elif case == "missing labels":
        labels = tmp_path / "nope.csv"
    elif case == "labels without the columns":
        labels.write_text("id,label\nc1,1\n")
    elif case == "labels without a usable row":
        labels.write_text('{"id": "c1", "churn": 1}\n')
    elif case == "out in the ignored logs/":
        extra = ["--out", str(project / "logs" / "snapshot")]
    elif case == "out outside the project":
        extra = ["--out", str(tmp_path / "elsewhere")]
    elif case == "out is the project root":
        extra = ["--out", str(project / "data" / "..")]
    elif case == "out is another directory":
        extra = ["--out", str(project / "data")]
    elif case == "out is a file":
        (project / "data" / "x").write_text("")
        extra = ["--out", str(project / "data" / "x")]
    elif case == "no DVC project":
        shutil.rmtree(project / ".dvc")
    elif case == "no project":
        (project / "dvc.yaml").unlink()
    assert snap(project, [log], labels, *extra) == USAGE
    line = one_line(capsys.readouterr().err)
    assert line.startswith("churnops feedback: ") and culprit in line, line
    if (project / ".dvc").is_dir():
        assert tree(project) == before


def committed_snapshot(project: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    log, labels = tmp_path / "p.jsonl", tmp_path / "labels.csv"
    log.write_bytes(encode(RowEntry(T0, "r", "v1", FEATURES, 0.2, False, 1.0, "c1")))
    labels.write_text("customer_id,churn\nc1,1\n")
    assert snap(project, [log], labels) == OK
    labels.write_text("customer_id,churn\nc1,0\n")  # the next snapshot differs
    return log, labels, tree(project)


@pytest.mark.parametrize("fault", ["disk full", "dvc error", "dvc error after writing", "interrupt", "real overlap"])
def test_a_failed_write_or_dvc_add_is_one_line_and_keeps_the_old_snapshot(
    project: Path, tmp_path: Path, fault: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    log, labels, before = committed_snapshot(project, tmp_path)
    capsys.readouterr()
    real_add, extra = Repo.add, []

    def failing_add(self: Repo, target: str, **kwargs: Any) -> Any:
        if fault == "dvc error after writing":
            real_add(self, target, **kwargs)  # .dvc and .gitignore written, then a failure
        if fault == "interrupt":
            raise KeyboardInterrupt
        raise DvcException("cannot add: disk quota exceeded\nsecond line")

    def full(dest: Path, *args: Any) -> None:
        dest.write_bytes(b"half a line")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if fault == "real overlap":  # an uncached stage output Git tracks: only DVC knows it is taken
        extra = ["--out", str(project / "plots" / "snapshot")]
        before = tree(project)
    elif fault == "disk full":
        monkeypatch.setattr(snapshot, "_write_log", full)
    else:
        monkeypatch.setattr(Repo, "add", failing_add)
    code = snap(project, [log], labels, *extra)
    err = capsys.readouterr().err
    if fault == "interrupt":
        assert code == 130
    else:
        assert code == FAILURE
        line = one_line(err)
        if fault == "disk full":
            assert line == f"churnops feedback: {project / SNAP}: cannot write the snapshot: No space left on device"
        else:
            assert line.startswith("churnops feedback: dvc add ") and " failed: " in line, line
            assert ("overlaps with an output" if fault == "real overlap" else "disk quota exceeded") in line
    assert tree(project) == before
    assert not [p for p in (project / "data" / "feedback").iterdir() if p.name.startswith(".snapshot")]
    assert not (project / "plots").exists() or not any((project / "plots").iterdir())


@pytest.mark.parametrize("kernel_exchange", [True, False])
def test_replacing_swaps_whole_directories_and_clears_what_a_kill_left(
    project: Path, tmp_path: Path, kernel_exchange: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, labels, before = committed_snapshot(project, tmp_path)
    if not kernel_exchange:  # another system: three renames
        monkeypatch.setattr(snapshot, "_renameat2", lambda: None)
    swaps: list[list[str]] = []
    real = snapshot.exchange

    def watched(a: Path, b: Path) -> None:
        real(a, b)
        swaps.append(sorted(p.name for p in b.iterdir()))  # what DIR holds right after the swap

    monkeypatch.setattr(snapshot, "exchange", watched)
    leftover = project / "data" / "feedback" / ".snapshot.0123abcd.new"
    leftover.mkdir()
    (leftover / "predictions.jsonl").write_text("half\n")
    assert snap(project, [log], labels) == OK
    assert swaps == [["labels.csv", "predictions.jsonl"]]
    assert not leftover.exists()
    after = tree(project)
    assert after[f"{SNAP}/labels.csv"] == labels.read_bytes() != before[f"{SNAP}/labels.csv"]
    assert (
        hashlib.md5(after[f"{SNAP}/predictions.jsonl"]).hexdigest()
        == hashlib.md5(before[f"{SNAP}/predictions.jsonl"]).hexdigest()
    )


def test_the_report_form_is_unchanged_and_options_before_the_word_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, labels = tmp_path / "p.jsonl", tmp_path / "labels.csv"
    write_log(log, 0)
    write_labels(labels, 0)
    assert main(["feedback", "--log", str(log), "--labels", str(labels)]) == OK
    assert "status: " in capsys.readouterr().out
    assert main(["feedback", "--out", "r.json", "snapshot", "--log", str(log), "--labels", str(labels)]) == USAGE
    assert "--out before `snapshot`" in one_line(capsys.readouterr().err)
    assert main(["feedback", "snapshot", "--log", str(log)]) == USAGE
    assert "--log and --labels are required" in one_line(capsys.readouterr().err)


def test_versioned_tells_what_a_clone_of_the_commit_would_have(project: Path, tmp_path: Path) -> None:
    log, *_ = committed_snapshot(project, tmp_path)
    for rel in ("logs/predictions.jsonl", "loose.csv", "plots/roc.json", "kept.csv"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("x\n")
    run(["git", "add", "kept.csv"], project)
    assert versioned(f"{SNAP}/predictions.jsonl", project) is True  # inside a directory a .dvc file tracks
    assert versioned("./plots/roc.json", project) is True  # inside a stage's output
    assert versioned("kept.csv", project) is True  # in Git's index
    assert versioned("logs/predictions.jsonl", project) is False  # git-ignored
    assert versioned("loose.csv", project) is False  # not ignored, but not added either
    assert versioned("../elsewhere.csv", project) is False
    assert versioned(str(log), project) is False
    (project / "dvc.yaml").write_text("stages: [")
    assert versioned("loose.csv", project) is None  # cannot tell: no warning
    shutil.rmtree(project / ".git")
    assert versioned(f"{SNAP}/labels.csv", project) is True and versioned("loose.csv", project) is None
