"""Tables for people: rich renderables turned into the text a command prints.

``churnops models`` and ``churnops monitor`` build :class:`rich.table.Table` objects;
:func:`render` turns them (and any plain lines around them) into text for one stream:

- a terminal gets rich's styling fitted to its width, but no word is cut (a table narrower
  than its longest words is printed wider); ``NO_COLOR`` is honoured;
- anything else (a pipe, a file) gets plain text, never wrapped or cut, trailing blanks
  stripped, so ``grep``, ``cut`` and ``diff`` see whole rows.

Markup, emoji and highlighting are off: a logged ``[x]`` or ``:fire:`` prints as it is.
Machines read ``--json``, not these tables.
"""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import RenderableType

PLAIN_WIDTH = 100_000
"""Width a table may take off a terminal: wide enough that no row is ever wrapped."""


def render(*renderables: RenderableType, stream: TextIO | None = None) -> str:
    """The text of ``renderables`` as ``stream`` (default stdout) should get it; ends with a newline."""
    from rich.console import Console

    out = stream if stream is not None else sys.stdout
    probe = Console(file=out)
    terminal = probe.is_terminal
    width = PLAIN_WIDTH
    if terminal:
        # Never narrower than the longest words: rich would cut "tenure_months" to "tenure_mon…".
        # Measured unbounded: rich clamps a measurement to the console's width.
        wide = Console(file=io.StringIO(), width=PLAIN_WIDTH)
        words = [wide.measure(r).minimum for r in renderables if not isinstance(r, str)]
        width = max([probe.width, *words])
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=terminal,
        color_system=probe.color_system if terminal else None,  # type: ignore[arg-type]
        no_color=probe.no_color,
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
    )
    for renderable in renderables:
        console.print(renderable)
    text = buf.getvalue()
    if terminal:
        return text
    return "".join(line.rstrip() + "\n" for line in text.splitlines())
