"""Small, safe file I/O helpers shared by the stages.

Every writer is atomic: it writes a temporary file beside the target and renames it
into place, so a crash or an error never leaves a half-written output. JSON is written
with sorted keys and a trailing newline, so the bytes depend only on the content.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from churnops.core.errors import ChurnopsError, DataError

if TYPE_CHECKING:
    import pandas as pd


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success, else remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_open(target: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces ``target`` once closed without error."""
    with atomic_path(target) as tmp:
        encoding = None if "b" in mode else "utf-8"
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh


def dumps_json(data: Any) -> str:
    """Canonical JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(target: str | Path, data: Any) -> None:
    """Atomically write ``data`` as canonical JSON."""
    with atomic_open(target) as fh:
        fh.write(dumps_json(data))


def write_jsonl(target: str | Path, records: Iterable[Any]) -> int:
    """Atomically write one compact JSON object per line; return the number of lines."""
    n = 0
    with atomic_open(target) as fh:
        for rec in records:
            fh.write(json.dumps(rec, separators=(",", ":"), sort_keys=True))
            fh.write("\n")
            n += 1
    return n


def read_text(path: str | Path, what: str, error: type[ChurnopsError] = DataError, hint: str = "") -> str:
    """Read a UTF-8 text file; every failure becomes ``error`` naming the path and ``what`` it is.

    ``hint`` is appended to the not-found message.
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found{hint}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read {what}: {err}") from None


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """Read a JSON file, turning every failure into a :class:`DataError` naming the path."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: cannot read {what}: {err}") from None


def read_parquet(path: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a parquet file into pandas; DataError if missing, not parquet, or lacking a column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable parquet file: {err}") from None
    cols = list(columns) if columns is not None else None
    if cols is not None:
        missing = [c for c in cols if c not in pf.schema_arrow.names]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}")
    try:
        # self_destruct frees each Arrow column as it is converted, and the pool hands
        # the memory back: a 5M-row table would otherwise stay resident twice.
        frame = pf.read(columns=cols).to_pandas(self_destruct=True, split_blocks=True)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: corrupt parquet data: {err}") from None
    pa.default_memory_pool().release_unused()
    return frame


def write_parquet(target: str | Path, frame: pd.DataFrame) -> None:
    """Atomically write a DataFrame as zstd-compressed parquet without the pandas index."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd")
