"""Where prediction-log lines come from: live files, their rotations, and the archive, as one.

Every reader of the log (``churnops feedback``, ``churnops monitor``, the feedback snapshot)
names its logs with the same specs, resolved here and nowhere else:

- a live log path (``logs/predictions.jsonl``): the file and its rotated ``X.n``, oldest first;
- a glob (``logs/*/predictions.jsonl``, ``/mnt/archive/*.jsonl.gz``): each match as below;
- an archive: a directory of shipped ``*.jsonl.gz`` files, one such file, or ``s3://bucket/prefix``
  (:mod:`churnops.core.archive`). Compressed objects are decompressed as they stream.

A :class:`Source` is one sequence of segments in time order: a live log, or one ``host``/``log``
series of an archive (objects from several replicas interleave in time, each series does not).
A shipped file may still be on local disk (retention keeps the newest shipped ones): an archived
object whose time and hash (both in its name) equal a local rotated file's is left out, so no
line is read twice whatever specs overlap.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from churnops.core.archive import NAME, SUFFIX, Archive, DirArchive, Stored, compact_ts, is_archive_url, open_archive
from churnops.core.errors import ArchiveError, InputError
from churnops.core.logformat import TS, log_files

GLOB_CHARS = frozenset("*?[")
_BACKUP = re.compile(r".*\.(\d+|gz)$")


@dataclass(frozen=True)
class Segment:
    """One file or object of a log. ``path`` is set for a plain file on disk (readable backwards)."""

    label: str
    path: Path | None = None
    archive: Archive | None = None
    stored: Stored | None = None

    def open(self) -> IO[bytes]:
        """The segment's log bytes (decompressed); InputError when it cannot be read."""
        if self.path is not None:
            try:
                return open(self.path, "rb")
            except OSError as err:
                raise InputError(f"{self.path}: cannot read the log: {err.strerror or err}") from None
        assert self.archive is not None and self.stored is not None
        try:
            raw = self.archive.open(self.stored)
        except ArchiveError as err:
            raise InputError(str(err)) from None
        return _Decompressed(raw)


class _Decompressed(io.BufferedReader):
    """A gzip stream that also closes the file or HTTP body under it (GzipFile leaves it open)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(gzip.GzipFile(fileobj=raw, mode="rb"), 1 << 20)
        self._under = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._under.close()


@dataclass
class Source:
    """Segments oldest first, in time order (see the module docstring)."""

    label: str
    spec: int
    """Index of the spec it came from: the forward order reads spec after spec."""
    segments: list[Segment] = field(default_factory=list)
    archived: bool = False


def live_source(path: Path, spec: int = 0) -> Source:
    """A live log: ``X`` and its rotated files, oldest first (none when there are none)."""
    return Source(str(path), spec, [Segment(str(f), path=f) for f in reversed(log_files(path))])


def _archived(archive: Archive, items: list[Stored], spec: int) -> list[Source]:
    series: dict[tuple[str, str], Source] = {}
    for item in items:
        m = NAME.match(item.name)
        assert m is not None  # Archive.list keeps only well-named objects
        key = (m["host"], m["log"])
        if key not in series:
            series[key] = Source(f"{archive.url} ({m['host']}/{m['log']})", spec, archived=True)
        series[key].segments.append(Segment(f"{archive.url}/{item.name}", archive=archive, stored=item))
    return list(series.values())


def _list(archive: Archive) -> list[Stored]:
    try:
        return archive.list()
    except ArchiveError as err:
        raise InputError(str(err)) from None


def _one(item: Path, spec: int, globbed: bool) -> list[Source]:
    if item.is_dir():
        archive = DirArchive(item)
        items = _list(archive)
        if not items:  # most likely the folder of a live log, not an archive: say so, never read nothing
            raise InputError(f"{item}: cannot read the log: a directory with no archived log files (*{SUFFIX})")
        return _archived(archive, items, spec)
    if item.name.endswith(SUFFIX) and NAME.match(item.name):
        archive = DirArchive(item.parent)
        return _archived(archive, [Stored(item.name, str(item))], spec)
    if globbed and _BACKUP.fullmatch(item.name):
        return []  # a rotated file is read through its live file
    return [live_source(item, spec)]


def resolve(specs: str | Path | Sequence[str | Path]) -> list[Source]:
    """The sources ``specs`` name, in order, duplicates left out (module docstring)."""
    items = [specs] if isinstance(specs, str | Path) else list(specs)
    sources: list[Source] = []
    for index, spec in enumerate(items):
        text = str(spec)
        if is_archive_url(text):
            try:
                archive = open_archive(text)
            except ArchiveError as err:
                raise InputError(str(err)) from None
            sources.extend(_archived(archive, _list(archive), index))
        elif GLOB_CHARS & set(text):
            root = Path(text).anchor or "."
            rel = text[len(root) :] if Path(text).is_absolute() else text
            for match in sorted(Path(root).glob(rel)):
                sources.extend(_one(match, index, globbed=True))
        else:
            sources.extend(_one(Path(text), index, globbed=False))
    return _without_duplicates(sources)


def _first_ts(path: Path) -> str | None:
    import orjson

    try:
        with open(path, "rb") as fh:
            doc = orjson.loads(fh.readline(64 * 1024))
    except (OSError, orjson.JSONDecodeError):
        return None
    ts = doc.get(TS) if isinstance(doc, dict) else None
    return ts if isinstance(ts, str) else None


def _sha16(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()[:16]


def _without_duplicates(sources: list[Source]) -> list[Source]:
    """Leave out repeated live files, archived objects named twice, and archived copies of local files.

    Only a local rotated file whose first time stamp matches an archived object's is hashed, so
    the cost is one read of the files that are in both places, not of the whole log.
    """
    seen_paths: set[Path] = set()
    local: dict[str, list[Path]] = {}
    any_archive = any(s.archived for s in sources)
    for s in sources:
        if not s.archived:
            kept = []
            for seg in s.segments:
                assert seg.path is not None
                key = seg.path.resolve()
                if key not in seen_paths:
                    seen_paths.add(key)
                    kept.append(seg)
                    if any_archive and seg.path.name != Path(s.label).name:  # rotated: maybe shipped
                        local.setdefault(compact_ts(_first_ts(seg.path)), []).append(seg.path)
            s.segments = kept
    hashes: dict[Path, str | None] = {}
    seen_names: set[str] = set()
    for s in sources:
        if s.archived:
            kept = []
            for seg in s.segments:
                assert seg.stored is not None
                m = NAME.match(seg.stored.name)
                assert m is not None
                twins = local.get(m["ts"], [])
                for p in twins:
                    if p not in hashes:
                        hashes[p] = _sha16(p)
                if seg.stored.name in seen_names or any(hashes[p] == m["sha"] for p in twins):
                    continue
                seen_names.add(seg.stored.name)
                kept.append(seg)
            s.segments = kept
    return [s for s in sources if s.segments or not s.archived]


def forward_segments(sources: list[Source]) -> list[Segment]:
    """Every segment in reading order: spec after spec; an archive's objects by name (time), then live files."""
    out: list[Segment] = []
    for index in sorted({s.spec for s in sources}):
        mine = [s for s in sources if s.spec == index]
        archived = sorted((seg for s in mine if s.archived for seg in s.segments), key=lambda g: g.stored.name)  # type: ignore[union-attr]
        out.extend(archived)
        out.extend(seg for s in mine if not s.archived for seg in s.segments)
    return out


def log_streams(specs: str | Path | Sequence[str | Path]) -> Iterator[IO[bytes]]:
    """The log bytes of ``specs``, one stream per file or object, oldest first (see :func:`forward_segments`).

    Each stream is closed when the next is asked for.
    """
    for segment in forward_segments(resolve(specs)):
        with segment.open() as fh:
            yield fh
