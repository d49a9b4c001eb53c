"""The README's `dvc metrics show` / `dvc exp show` fit 160 columns, and its recovery line works.

Both are read from README.md as written, so the README cannot show a command that these
tests did not run.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from churnops.core.metrics import HEADLINE, MAX_TABLE_WIDTH
from tests.utils.project import REPO_ROOT, clone_built, lock_md5, once_per_run, run, set_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def console_lines(prefix: str) -> list[str]:
    """Commands of README's ```console blocks that start with ``prefix``, comments stripped."""
    text = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    lines = [re.sub(r"\s{2,}#.*$", "", line).strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


TABLE_COMMANDS = console_lines("dvc metrics show") + console_lines("dvc exp show")


def test_the_readme_shows_the_table_commands() -> None:
    assert "dvc metrics show" in TABLE_COMMANDS
    assert any(c.startswith("dvc exp show --drop") for c in TABLE_COMMANDS)


@pytest.fixture(scope="module")
def experimented(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built project after two experiments with different params, so exp show has rows that differ.

    Its model is pinned as the champion first, so the judge weighs the experiments' models
    against it (verdicts promote or keep) rather than saying "first". Built once per run;
    each worker reads its own copy (dvc takes locks in the project it runs in).
    """

    def build(dest: Path) -> dict[str, str]:
        project = clone_built(built_template, dest)
        set_params(project, {"promote.champion": lock_md5(project)})
        run(["dvc", "repro", "--quiet"], project)
        run(["git", "commit", "-qam", "promote: pin the champion"], project)
        for override in ("train.gate_f1=0.6", "train.logreg.C=0.01"):  # the last one stays in the workspace
            run(["dvc", "exp", "run", "--quiet", "-S", override], project)
        return {}

    template = once_per_run(tmp_path_factory, "experimented", build)[0]
    return clone_built(template, tmp_path_factory.mktemp("exps") / "project")


def width(text: str) -> int:
    return max((len(line.rstrip()) for line in text.splitlines()), default=0)


@pytest.mark.parametrize("command", TABLE_COMMANDS)
def test_readme_tables_fit_160_columns_after_experiments(experimented: Path, command: str) -> None:
    proc = run(shlex.split(command), experimented, extra_env={"COLUMNS": str(MAX_TABLE_WIDTH)})
    out = proc.stdout
    assert out.strip(), f"{command} printed nothing"
    # rich squeezes a too-wide table into COLUMNS by eliding cells, so look for the ellipsis too.
    assert "…" not in out, f"{command} elides cells at {MAX_TABLE_WIDTH} columns:\n{out}"
    assert width(out) <= MAX_TABLE_WIDTH, f"{command} is {width(out)} columns wide:\n{out}"
    if command.startswith("dvc exp show --drop"):  # a --keep that matches no F1 column drops it silently
        assert "f1" in out.splitlines()[1] and "verdict" in out.splitlines()[1], out


def test_the_headline_metrics_files_fit_160_columns_together(experimented: Path) -> None:
    """The part of `dvc metrics show` this rule owns: every file of HEADLINE at once."""
    files = [f"metrics/{stage}.json" for stage in HEADLINE]
    out = run(["dvc", "metrics", "show", *files], experimented).stdout
    assert width(out) <= MAX_TABLE_WIDTH - 35, f"leave room for the drift status:\n{out}"
    for stage, keys in HEADLINE.items():
        shown = json.loads((experimented / "metrics" / f"{stage}.json").read_text())
        details = json.loads((experimented / "metrics" / "details" / f"{stage}.json").read_text())
        flat = {".".join(k) for k in _leaves(shown)}
        assert flat == set(keys), f"metrics/{stage}.json holds {sorted(flat)}, not the headline"
        assert details and not flat & {".".join(k) for k in _leaves(details)}


def _leaves(d: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for k, v in d.items():
        out += _leaves(v, (*prefix, k)) if isinstance(v, dict) and v else [(*prefix, k)]
    return out


RECOVERY = console_lines("git restore params.yaml dvc.lock metrics")


@pytest.mark.parametrize("override", ["train.logreg.C=0.01", "train.gate_f1=0.99"], ids=["experiment", "failed-gate"])
def test_the_readme_recovery_line_restores_a_clean_workspace(built_project: Path, override: str) -> None:
    assert len(RECOVERY) == 1, "README shows one recovery line"
    lock_before = (built_project / "dvc.lock").read_bytes()
    proc = run(["dvc", "exp", "run", "-S", override], built_project, check=False)
    assert (proc.returncode == 0) == override.startswith("train.logreg"), proc.stderr
    assert run(["git", "status", "--porcelain"], built_project).stdout != ""  # something to recover from
    run(RECOVERY[0], built_project)
    assert run(["git", "status", "--porcelain"], built_project).stdout == ""
    assert json.loads(run(["dvc", "status", "--json"], built_project).stdout) == {}
    assert (built_project / "dvc.lock").read_bytes() == lock_before
    assert (built_project / "models" / "model.json").exists()
