"""A rollback never leaves the commands or the service on code that cannot start.

REV's ``dvc.lock`` pins modules that the CLI and the service import too (each stage's deps
are its import closure). On top of the two-model history this builds three revisions
whose lock pins another ``churnops/core/errors.py``; ``dvc commit`` records them (no code
runs, and the outputs are the same):

- ``gone``: no ``errors.py`` at all, as before the issue-12 renovation (no ``core/``);
- ``broken``: ``errors.py`` lacks ``RepositoryBusyError``, which the commands import;
- ``edited`` (HEAD): today's ``errors.py`` with one more line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from churnops.core.errors import RollbackError
from churnops.versioning.rollback.livecode import check_imports, live_files
from tests.utils.project import REPO_ROOT, clone_built, lock_md5, run
from tests.utils.workflow import History, churnops, snapshot

ERRORS = "churnops/core/errors.py"
EDIT = "# edited: HEAD's copy differs from v1's\n"


@dataclass(frozen=True)
class CodeHistory:
    root: Path
    v1: str
    v2: str


def _commit_code(project: Path, tag: str) -> None:
    run(["dvc", "commit", "--force", "--quiet"], project)  # the lock pins the code as it now is
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", f"code: {tag}"], project)
    run(["git", "tag", tag], project)


@pytest.fixture(scope="module")
def code_template(history_template: History, tmp_path_factory: pytest.TempPathFactory) -> CodeHistory:
    p = clone_built(history_template.root, tmp_path_factory.mktemp("code") / "project")
    errors = p / ERRORS
    original = errors.read_text()

    errors.unlink()
    dvc_yaml = p / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace(f"      - {ERRORS}\n", ""))
    _commit_code(p, "gone")

    run(["git", "checkout", "v2", "--", "dvc.yaml"], p)
    assert "class RepositoryBusyError(" in original
    errors.write_text(original.replace("class RepositoryBusyError(", "class RepoBusyError("))
    _commit_code(p, "broken")

    errors.write_text(original + EDIT)
    _commit_code(p, "edited")
    assert lock_md5(p) == history_template.v2  # the model never changed
    return CodeHistory(p, history_template.v1, history_template.v2)


@pytest.fixture
def code_history(code_template: CodeHistory, tmp_path: Path) -> CodeHistory:
    return CodeHistory(clone_built(code_template.root, tmp_path / "project"), code_template.v1, code_template.v2)


def git_show(project: Path, rev: str, path: str) -> str:
    return run(["git", "show", f"{rev}:{path}"], project).stdout


def assert_clean(project: Path) -> None:
    assert run(["dvc", "status", "--json"], project).stdout.strip() == "{}"
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    assert not (project / ".git" / "churnops-rollback" / "journal.json").exists()


@pytest.mark.e2e
@pytest.mark.slow
def test_changed_live_code_is_refused_then_restored_with_allow_code(code_history: CodeHistory) -> None:
    p = code_history.root
    before = snapshot(p)
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"churnops rollback: v1 would also restore code that the churnops commands and the service "
                           f"import, and its copy differs from HEAD's ({ERRORS}); ")  # fmt: skip
    assert line.endswith("nothing was changed: roll back to a revision with the same code, or use --allow-code "
                         "to restore it anyway (undone unless it still imports)")  # fmt: skip
    assert snapshot(p) == before

    proc = churnops(p, "rollback", "v1", "--allow-code")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"rolled back to model {code_history.v1} from v1")
    assert f"restored (--allow-code) and imports cleanly: {ERRORS};" in proc.stderr
    assert (p / ERRORS).read_text() == git_show(p, "v1", ERRORS) != git_show(p, "edited", ERRORS)
    assert lock_md5(p) == code_history.v1
    assert_clean(p)


@pytest.mark.e2e
@pytest.mark.slow
def test_allowed_code_that_breaks_an_import_is_undone(code_history: CodeHistory) -> None:
    p = code_history.root
    before = snapshot(p)
    proc = churnops(p, "rollback", "broken", "--allow-code")
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line
    assert line.startswith(
        "churnops rollback: with broken's code restored, importing churnops.cli fails "
        "(ImportError: cannot import name 'RepositoryBusyError' from 'churnops.core.errors'"
    )
    assert line.endswith("; nothing was changed")
    assert snapshot(p) == before
    assert_clean(p)


@pytest.mark.e2e
@pytest.mark.slow
def test_a_revision_without_the_file_leaves_it_alone(code_history: CodeHistory) -> None:
    # As a rollback across the issue-12 renovation: REV has no core/, so today's stays.
    p = code_history.root
    today = (p / ERRORS).read_text()
    proc = churnops(p, "rollback", "gone")
    assert proc.returncode == 0, proc.stderr
    assert (p / ERRORS).read_text() == today
    assert "dvc.yaml" in run(["git", "show", "--name-only", "--format=", "HEAD"], p).stdout.split()
    assert_clean(p)


def test_live_code_includes_every_command_the_cli_loads_by_name() -> None:
    from churnops.cli import COMMANDS

    live = live_files(REPO_ROOT)
    assert {f"churnops/commands/{name}.py" for name in COMMANDS} <= live
    assert {"churnops/cli.py", "churnops/service/app.py", ERRORS} <= live
    assert not {p for p in live if p.startswith("stages/")}  # stage scripts are the pipeline's alone


def test_the_import_check_names_the_module_and_the_error(tmp_path: Path) -> None:
    for rel, text in {
        "churnops/__init__.py": "",
        "churnops/cli.py": "from churnops.core import thing\n",
        "churnops/core/__init__.py": "",
        "churnops/core/thing.py": "raise RuntimeError('REV broke this')\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    live = live_files(tmp_path)
    assert live == {"churnops/__init__.py", "churnops/cli.py", "churnops/core/__init__.py", "churnops/core/thing.py"}
    with pytest.raises(RollbackError, match=r"^with v0's code restored, importing churnops\.cli fails "
                                            r"\(RuntimeError: REV broke this\)$"):  # fmt: skip
        check_imports(tmp_path, live, "v0")
    (tmp_path / "churnops/core/thing.py").write_text("")
    check_imports(tmp_path, live, "v0")
