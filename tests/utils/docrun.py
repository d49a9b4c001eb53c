"""Run the ```console blocks of a Markdown document and check what they print.

The convention, also stated at the top of docs/git-workflow.md:

- a line starting with ``$ `` is a command (a trailing ``\\`` continues it on the next line);
  it runs in ``bash`` from the project's root, after the previous one, with a timeout;
- the lines below it, up to the next command, are excerpts of its output (stdout and
  stderr together): each must appear in it, whitespace-normalised; ``...`` marks elided
  output and is skipped;
- ``[exit status N]`` says the command must exit with N; otherwise it must exit 0;
- ``[no output]`` says it must print nothing at all.

So the document cannot show a step that does not work, nor an outcome that does not happen.

Run by hand: ``python -m tests.utils.docrun docs/git-workflow.md /tmp/somewhere``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(\S*)\s*$")
EXIT = re.compile(r"^\[exit status (\d+)\]$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Step:
    """One command of the document with the outcome it promises."""

    command: str
    line: int
    expect: list[str] = field(default_factory=list)
    exit_status: int = 0
    no_output: bool = False


def fenced_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """``(language, first line number, lines)`` of every fenced block."""
    blocks = []
    lang: str | None = None
    start = 0
    lines: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m and lang is None:
            lang, start, lines = m.group(1), n + 1, []
        elif line.strip() == "```" and lang is not None:
            blocks.append((lang, start, lines))
            lang = None
        elif lang is not None:
            lines.append(line)
    if lang is not None:
        raise ValueError(f"unclosed code fence opened at line {start - 1}")
    return blocks


def parse_steps(text: str) -> list[Step]:
    """The commands of every ``console`` block, in document order."""
    steps: list[Step] = []
    for lang, start, lines in fenced_blocks(text):
        if lang != "console":
            continue
        current: Step | None = None
        continuing = False
        for offset, raw in enumerate(lines):
            line = raw.rstrip()
            if continuing and current is not None:
                current.command += "\n" + line
                continuing = line.endswith("\\")
                continue
            if line.startswith("$ "):
                current = Step(command=line[2:], line=start + offset)
                steps.append(current)
                continuing = line.endswith("\\")
                continue
            if current is None:
                if line.strip():
                    raise ValueError(f"line {start + offset}: output before any command in a console block")
                continue
            if m := EXIT.match(line.strip()):
                current.exit_status = int(m.group(1))
            elif line.strip() == "[no output]":
                current.no_output = True
            elif line.strip() and line.strip() != "...":
                current.expect.append(line.strip())
    return steps


def normalise(text: str) -> str:
    return re.sub(r"[ \t]+", " ", ANSI.sub("", text)).strip()


@dataclass
class Outcome:
    step: Step
    returncode: int
    output: str
    seconds: float


def check(step: Step, returncode: int, output: str) -> list[str]:
    """What differs from the document's promise (empty when the step did what it shows)."""
    problems = []
    if returncode != step.exit_status:
        problems.append(f"exit status {returncode}, the document says {step.exit_status}")
    if step.no_output and output.strip():
        problems.append("printed something, the document says it prints nothing")
    lines = [normalise(line) for line in output.splitlines()]
    for expected in step.expect:
        want = normalise(expected)
        if not any(want in got for got in lines):
            problems.append(f"output lacks: {expected!r}")
    return problems


def run_steps(
    steps: list[Step],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 300,
    on_step: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run the steps in order; stop at the first one that breaks its promise (AssertionError)."""
    outcomes = []
    for step in steps:
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["bash", "-c", step.command],
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        outcome = Outcome(step, proc.returncode, proc.stdout, time.perf_counter() - t0)
        outcomes.append(outcome)
        if on_step:
            on_step(outcome)
        if problems := check(step, proc.returncode, proc.stdout):
            raise AssertionError(
                f"docs line {step.line}: $ {step.command}\n  " + "\n  ".join(problems) + f"\n--- output\n{proc.stdout}"
            )
    return outcomes


def main(argv: list[str]) -> int:
    """Run a document's steps in a fresh clone of a small project under ``argv[1]`` (for writing the doc)."""
    from tests.utils.project import build, env, fresh_clone, make_project

    doc, where = Path(argv[0]), Path(argv[1])
    project = fresh_clone(build(make_project(where / "built")), where / "project")
    e = {**env(), "GIT_EDITOR": "true", "COLUMNS": "160", "TERM": "dumb"}

    def show(o: Outcome) -> None:
        print(f"[{o.seconds:5.1f}s rc={o.returncode}] $ {o.step.command}\n{o.output}", flush=True)

    run_steps(parse_steps(doc.read_text()), project, e, on_step=show)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
