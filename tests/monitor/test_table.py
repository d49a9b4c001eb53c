"""What ``churnops monitor`` prints: the values a person reads, plain off a terminal, coloured on one.

Assertions are on content (the cells of a row, the lines around the table), never on
column positions or padding.
"""

from __future__ import annotations

import io
import re

import pytest

from churnops.core.schema import FEATURE_NAMES
from churnops.core.terminal import render
from churnops.core.trainstats import TrainStats
from churnops.monitor.table import render_table
from churnops.monitor.verdict import drift_report
from tests.utils.factories import default_rules, draw

RULES = default_rules()
ANSI = re.compile(r"\x1b\[")
COLOUR = re.compile(r"\x1b\[(?:\d+;)*3[0-7](?:;\d+)*m")
"""An SGR sequence that sets a foreground colour (bold alone is not a colour)."""
HEADER = ["feature", "drift", "rules", "n", "z", "effect", "psi", "psi", "p", "chi2", "p"]  # "psi p" is one column


class Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_colour_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream alone decides (a CI runner may export FORCE_COLOR or NO_COLOR)."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "100")


def rows(text: str) -> dict[str, list[str]]:
    """The table's rows by their first cell (feature names and ``prediction``)."""
    out = {}
    for line in text.splitlines():
        cells = line.split()
        if cells and cells[0] in (*FEATURE_NAMES, "prediction"):
            out[cells[0]] = cells
    return out


def test_each_feature_row_shows_its_verdict_rules_and_statistics(train_stats: TrainStats) -> None:
    report = drift_report(draw(3, 200, shift={"tenure_months": -24}), train_stats, RULES, 200)
    text = render_table(report)
    lines = text.splitlines()
    assert lines[0] == f"status: drift  ({report['message']})"
    assert lines[1].startswith("lines: 200 of last_n=200; invalid: 0")
    assert any(line.split() == HEADER for line in lines)
    table = rows(text)
    assert set(table) == {*FEATURE_NAMES, "prediction"}
    tenure = report["features"]["tenure_months"]
    assert table["tenure_months"] == [
        "tenure_months", "YES", "z,psi", "200",
        f"{tenure['z']:.2f}", f"{tenure['effect']:.3f}", f"{tenure['psi']:.3f}", f"{tenure['psi_p']:.2g}", "-", "-",
    ]  # fmt: skip
    plan = report["features"]["plan"]
    assert table["plan"][1:4] == ["no", "-", "200"] and table["plan"][-2:] == [
        f"{plan['chi2']:.1f}",
        f"{plan['p_value']:.2g}",
    ]
    p = report["prediction"]
    assert table["prediction"][:5] == ["prediction", "YES", "z", "200", f"{p['z']:.2f}"]
    means = f"prediction: mean {p['mean_probability']:.3f} vs training churn rate {p['train_churn_rate']:.3f}"
    assert means in lines
    assert lines[-1].startswith(f"thresholds: |z| > {RULES.z_threshold:g}")


def test_a_window_too_small_to_judge_prints_no_table(train_stats: TrainStats) -> None:
    report = drift_report(draw(1, 5), train_stats, RULES, 200)
    text = render_table(report)
    assert text.splitlines()[0].startswith("status: insufficient_data")
    assert not rows(text) and "feature" not in text


def test_off_a_terminal_the_text_is_plain_and_rows_are_never_wrapped(train_stats: TrainStats) -> None:
    from rich.table import Table

    report = drift_report(draw(3, 200, shift={"tenure_months": -24}), train_stats, RULES, 200)
    assert not ANSI.search(render_table(report))  # pytest's captured stdout is not a terminal
    table = Table()
    table.add_column("what")
    table.add_row("a [bold]subject[/bold] :fire: " + "word " * 100)
    text = render(table, stream=io.StringIO())
    assert not ANSI.search(text)
    assert sum("word" in line for line in text.splitlines()) == 1  # one line, however wide
    assert "[bold]subject[/bold] :fire:" in text  # printed as written: no markup, no emoji codes
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_terminal_gets_colour_unless_no_color_is_set(
    monkeypatch: pytest.MonkeyPatch, train_stats: TrainStats
) -> None:
    from rich.text import Text

    flagged = Text("YES", style="bold red")
    assert COLOUR.search(render(flagged, stream=Tty()))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not COLOUR.search(render(flagged, stream=Tty()))
    assert "YES" in render(flagged, stream=Tty())


def test_a_narrow_terminal_never_cuts_a_feature_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich import box
    from rich.table import Table

    monkeypatch.setenv("COLUMNS", "20")
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("feature", "drift", "n"):
        table.add_column(name)
    table.add_row("avg_session_minutes", "no", "200")
    text = re.sub(r"\x1b\[[0-9;]*m", "", render(table, stream=Tty()))
    assert "avg_session_minutes" in text and "…" not in text
