"""The cyclic garbage collector paused while a reader builds many small objects that hold no cycles.

CPython runs a collection every 700 container allocations, and a full one as the survivors
grow. Reading 200,000 labels and parsing their winning log lines makes millions of tuples,
lists and dicts, and the collections this triggers cost a sixth of ``churnops feedback``'s
time at 1M log lines (0.6 of 3.6 CPU s, bench/labeljoin.py). Those objects hold no reference
cycles, so there is nothing for the collector to find; it resumes when the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (or the decorated function); nested uses are fine."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
