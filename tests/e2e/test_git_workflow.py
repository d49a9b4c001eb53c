"""docs/git-workflow.md: every command it shows is run here, in order, and its outcome checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.docrun import Step, check, fenced_blocks, parse_steps, run_steps
from tests.utils.project import REPO_ROOT, env, run

DOC = REPO_ROOT / "docs" / "git-workflow.md"


def test_parser_reads_commands_outputs_and_exit_statuses() -> None:
    text = "\n".join(
        [
            "Prose with `inline code` is not run.",
            "```console",
            "$ echo one \\",
            "  two",
            "one two",
            "...",
            "$ false",
            "[exit status 1]",
            "[no output]",
            "```",
            "```text",
            "$ not a console block",
            "```",
        ]
    )
    steps = parse_steps(text)
    assert [(s.command, s.expect, s.exit_status, s.no_output, s.line) for s in steps] == [
        ("echo one \\\n  two", ["one two"], 0, False, 3),
        ("false", [], 1, True, 7),
    ]
    with pytest.raises(ValueError, match="unclosed code fence"):
        parse_steps("```console\n$ true\n")
    with pytest.raises(ValueError, match="output before any command"):
        parse_steps("```console\nsurprise\n```\n")


def test_check_compares_exit_status_and_whitespace_normalised_lines() -> None:
    step = Step("x", 1, expect=["a  b", "missing"], exit_status=0)
    assert check(step, 0, "zz a \t b zz\nother") == ["output lacks: 'missing'"]
    assert check(Step("x", 1, exit_status=1), 0, "") == ["exit status 0, the document says 1"]
    assert check(Step("x", 1, expect=["green"]), 0, "\x1b[32mgreen\x1b[0m") == []
    assert check(Step("x", 1, no_output=True), 0, " M params.yaml\n") == [
        "printed something, the document says it prints nothing"
    ]
    assert check(Step("x", 1, no_output=True), 0, "\n") == []


def test_the_document_only_has_console_blocks() -> None:
    """A block in another language would show commands that no test runs."""
    assert {lang for lang, _, _ in fenced_blocks(DOC.read_text())} == {"console"}


EXPERIMENTS = "## 7. Experiments"
"""The section that needs only a clean ``main``: the document says so, and it runs on its own clone."""


def part(steps: list[Step], name: str) -> list[Step]:
    """Sections 0-6 (one story of branches on one clone) or section 7 (experiments on a clean main)."""
    start = DOC.read_text().splitlines().index(EXPERIMENTS) + 1
    return [s for s in steps if (s.line > start) == (name == "experiments")]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.walkthrough
@pytest.mark.parametrize("name", ["branches", "experiments"])
def test_every_step_of_the_document_works(new_user_clone: Path, name: str) -> None:
    """Both parts run side by side, each on a fresh clone; together they are every step."""
    steps = part(parse_steps(DOC.read_text()), name)
    e = {**env(), "GIT_EDITOR": "true", "TERM": "dumb", "COLUMNS": "160"}
    try:
        outcomes = run_steps(steps, new_user_clone, e, timeout=600)
    finally:
        # Queue workers are background processes: never leave one behind, even on failure.
        run(["dvc", "queue", "stop", "--kill"], new_user_clone, check=False, timeout=60)
    assert len(outcomes) == len(steps) > 10
    # Where each part ends: main holds the last model, nothing left uncommitted.
    assert run(["git", "status", "--porcelain"], new_user_clone).stdout == ""
    assert run(["git", "branch", "--show-current"], new_user_clone).stdout.strip() == "main"
    assert (new_user_clone.parent / "dvc-storage").is_dir()


def test_the_two_parts_are_every_step_and_the_document_says_section_7_stands_alone() -> None:
    steps = parse_steps(DOC.read_text())
    assert part(steps, "branches") + part(steps, "experiments") == steps
    assert len(part(steps, "branches")) > 90 and len(part(steps, "experiments")) > 10
    section = DOC.read_text().split(EXPERIMENTS, 1)[1]
    assert "starts from a clean `main` with the team's remote" in section
