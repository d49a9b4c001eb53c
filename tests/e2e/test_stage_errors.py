"""Stage scripts on bad input: one readable line, a non-zero exit, nothing written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.utils.project import REPO_ROOT, fixture_params, run, set_params

pytestmark = pytest.mark.e2e

PY = sys.executable

# dvc.yaml's cmd names every path; the scripts have no defaults, so the tests name them all too.
PARAMS = ("--params", "params.yaml")


def stage(name: str, *args: str, cwd: Path):
    return run([PY, str(REPO_ROOT / "stages" / f"{name}.py"), *args], cwd, check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(fixture_params())
    set_params(tmp_path, {"generate.rows": 3000, "generate.traffic.rows": 20})
    return tmp_path


def assert_one_line_error(proc, prefix: str, *fragments: str, code: int = 1) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line, f"expected one line, got:\n{line}"
    assert line.startswith(prefix)
    for fragment in fragments:
        assert fragment in line


def generate_args() -> list[str]:
    return [*PARAMS, "--out", "raw.parquet", "--traffic-out", "t.jsonl", "--labels-out", "labels.csv"]


def prepare_args(raw: str) -> list[str]:
    return [
        *PARAMS, "--raw", raw, "--feedback", "fb.parquet", "--train", "train.parquet", "--test", "test.parquet",
        "--quarantine", "q.parquet", "--stats", "stats.json", "--metrics", "prepare.json",
        "--details", "prepare_details.json",
    ]  # fmt: skip


def train_args(model: str) -> list[str]:
    return [*PARAMS, "--train", "train.parquet", "--model", model, "--metrics", "t.json", "--details", "td.json"]


def judge_args(model: str) -> list[str]:
    return [*PARAMS, "--model", model, "--feedback", "fb.parquet", "--test", "test.parquet",
            "--metrics", "j.json", "--details", "jd.json"]  # fmt: skip


def test_missing_input_file(workdir: Path) -> None:
    proc = stage("prepare", *prepare_args("nope.parquet"), cwd=workdir)
    assert_one_line_error(proc, "prepare: nope.parquet: data file not found")
    assert not list(workdir.glob("*.parquet"))


def test_corrupt_data_file(workdir: Path) -> None:
    (workdir / "raw.parquet").write_bytes(b"PAR1 this is not parquet at all")
    proc = stage("prepare", *prepare_args("raw.parquet"), cwd=workdir)
    assert_one_line_error(proc, "prepare: raw.parquet: not a readable parquet file")
    assert not (workdir / "train.parquet").exists() and not (workdir / "stats.json").exists()


def test_bad_params_exit_2_before_any_work(workdir: Path) -> None:
    set_params(workdir, {"generate.rows": -5})
    proc = stage("generate", *generate_args(), cwd=workdir)
    assert_one_line_error(proc, "generate: params.yaml: generate.rows: Input should be greater than 0", code=2)
    assert not (workdir / "raw.parquet").exists() and not (workdir / "t.jsonl").exists()
    assert not (workdir / "labels.csv").exists()


def test_a_path_left_out_of_the_command_is_refused_not_defaulted(workdir: Path) -> None:
    # A default would be a second copy of dvc.yaml's path, and would write where no cmd said.
    args = generate_args()
    i = args.index("--labels-out")
    proc = stage("generate", *args[:i], *args[i + 2 :], cwd=workdir)
    assert proc.returncode == 2
    assert "the following arguments are required: --labels-out" in proc.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["params.yaml"]


def test_unknown_model_and_too_dirty_data(workdir: Path) -> None:
    set_params(workdir, {"generate.dirty_fraction": 0.2})
    assert stage("generate", *generate_args(), cwd=workdir).returncode == 0
    proc = stage("prepare", *prepare_args("raw.parquet"), cwd=workdir)
    assert_one_line_error(proc, "prepare: raw.parquet: ", "of rows rejected", "prepare.max_rejected_fraction=5.00%")
    assert not (workdir / "train.parquet").exists()
    set_params(workdir, {"generate.dirty_fraction": 0.01, "train.model": "forest"})
    proc = stage("train", *train_args("m.json"), cwd=workdir)
    assert_one_line_error(proc, "train: params.yaml: train.model: Input should be 'logreg' or 'hgb'", code=2)


def test_judge_without_a_candidate_or_with_a_malformed_pin(workdir: Path) -> None:
    proc = stage("judge", *judge_args("nope.json"), cwd=workdir)
    assert_one_line_error(proc, "judge: nope.json: model file not found (run `dvc checkout` or `dvc repro`)")
    set_params(workdir, {"promote.champion": "d8aab982826e"})  # a prefix is not a pin
    proc = stage("judge", *judge_args("nope.json"), cwd=workdir)
    assert_one_line_error(proc, "judge: params.yaml: promote.champion: String should match pattern", code=2)
    assert not (workdir / "j.json").exists() and not (workdir / "jd.json").exists()


@pytest.mark.slow
def test_failed_gate_writes_no_model_and_keeps_the_old_one(workdir: Path) -> None:
    assert stage("generate", *generate_args(), cwd=workdir).returncode == 0
    assert stage("prepare", *prepare_args("raw.parquet"), cwd=workdir).returncode == 0
    model = workdir / "model.json"
    model.write_bytes(b"the last accepted model")
    set_params(workdir, {"train.gate_f1": 0.99})
    proc = stage("train", *train_args("model.json"), cwd=workdir)
    assert_one_line_error(proc, "train: gate failed: f1=0.", "< gate_f1=0.990")
    assert model.read_bytes() == b"the last accepted model"
    assert '"passed": false' in (workdir / "t.json").read_text()
