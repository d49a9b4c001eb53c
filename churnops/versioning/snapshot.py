"""A feedback snapshot: the labeled part of prediction logs, and the labels, versioned by DVC.

The service's log is git-ignored and grows with every request: as a ``feedback`` dep it changes
``dvc status`` at once, and a clone has no such file, so a commit that trained on served traffic
could not be rebuilt. :func:`take` copies what the join can use into one DVC-tracked directory:
``DIR/predictions.jsonl``, the labeled log lines raw and in the join's order (so the stage's
outputs on the snapshot equal those on the whole log), and the labels byte for byte.

The log is streamed once; memory is O(labels). A new snapshot is built in a hidden directory,
exchanged with the old one in one ``renameat2(RENAME_EXCHANGE)``, then ``dvc add``-ed; if DVC
fails, everything is put back, so ``DIR`` is always a whole snapshot. Without the exchange (not
Linux), a kill between three renames leaves ``DIR`` missing: ``dvc checkout DIR.dvc`` restores it.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import secrets
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from churnops.core import paths
from churnops.core.errors import InputError, ParamsError, SnapshotError
from churnops.core.logsource import resolve
from churnops.pipeline import labeljoin as fb
from churnops.versioning.git import ignore_rule, repo_lock
from churnops.versioning.store import quiet_dvc_logs

PREDICTIONS = "predictions.jsonl"
LABELS = "labels"  # + .csv or .jsonl
SNAPSHOT_FILES = frozenset({PREDICTIONS, f"{LABELS}.{fb.CSV}", f"{LABELS}.{fb.JSON_LINES}"})


@dataclass(frozen=True)
class Snapshot:
    """What :func:`take` wrote. Paths are relative to the project root, in POSIX form."""

    directory: str
    predictions: str
    labels: str
    dvc_file: str
    gitignore: str
    n_files: int  # rotated ones included
    n_read: int
    n_kept: int
    n_labels: int
    n_customers: int  # labeled customers with at least one kept prediction
    skipped: Counter[str]  # label rows the join skips, by reason


def take(root: Path, logs: Sequence[str | Path], labels: str | Path, out: str | Path) -> Snapshot:
    """Snapshot ``logs`` (each with its rotated files) and ``labels`` into ``out`` and ``dvc add`` it.

    ``out`` must be inside ``root`` where Git does not ignore it; an existing one must be a snapshot.

    Raises:
        InputError: a log or the labels cannot be read, or the labels hold no usable row.
        ParamsError: ``out`` is outside the project, ignored by Git, or another kind of directory.
        SnapshotError: writing or ``dvc add`` failed (the old snapshot is kept).
        RepositoryBusyError: another churnops command is changing the work tree.
    """
    root = root.resolve()
    target = _target(root, Path(out))
    data = _read(labels)
    parsed = fb.parse_labels(data, labels)
    if not parsed.labels:
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(parsed.skipped.items())) or "no rows"
        raise InputError(f"{labels}: no usable label ({detail})")
    n_files = sum(len(_files(log)) for log in logs)
    with repo_lock(root, "churnops feedback snapshot"):
        _check_replaceable(target, out)
        _remove_leftovers(target)
        staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}.new")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            ids = {label.customer_id for label in parsed.labels}
            n_read, n_kept, n_customers = _write_log(staging / PREDICTIONS, logs, ids)
            (staging / f"{LABELS}.{parsed.format}").write_bytes(data)
            _install(root, staging, target)
        except OSError as err:  # a full disk, a read-only directory: the old snapshot is untouched
            raise SnapshotError(f"{out}: cannot write the snapshot: {err.strerror or err}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    rel = target.relative_to(root).as_posix()
    return Snapshot(
        directory=rel,
        predictions=f"{rel}/{PREDICTIONS}",
        labels=f"{rel}/{LABELS}.{parsed.format}",
        dvc_file=f"{rel}.dvc",
        gitignore=(target.parent / ".gitignore").relative_to(root).as_posix(),
        n_files=n_files,
        n_read=n_read,
        n_kept=n_kept,
        n_labels=len(parsed.labels),
        n_customers=n_customers,
        skipped=parsed.skipped,
    )


def _target(root: Path, out: Path) -> Path:
    """``out`` as an absolute path (its parent resolved) after checking that a snapshot may live there."""
    path = Path(os.path.abspath(out))
    path = path.parent.resolve() / path.name
    if path == root or not path.is_relative_to(root):
        raise ParamsError(f"{out}: not inside the project at {root}: a snapshot is versioned with the project")
    rel = path.relative_to(root)
    if rel.parts[0] in (".git", ".dvc"):
        raise ParamsError(f"{out}: inside {rel.parts[0]}/, which is not the project's data")
    # The .dvc file is what a commit carries: Git must not ignore it (logs/ is ignored on purpose).
    if (rule := ignore_rule(root, f"{rel.as_posix()}.dvc")) is not None:
        raise ParamsError(
            f"{out}: Git ignores it ({rule}), so {rel.as_posix()}.dvc could not be committed; "
            f"snapshot into a versioned directory such as {paths.FEEDBACK_SNAPSHOT}"
        )
    return path


def _read(labels: str | Path) -> bytes:
    try:
        return Path(labels).read_bytes()
    except OSError as err:
        raise InputError(f"{labels}: cannot read labels: {err.strerror or err}") from None


def _files(log: str | Path) -> list[str]:
    """The files and archived objects ``log`` names; InputError when there are none."""
    files = [seg.label for source in resolve([log]) for seg in source.segments]
    if not files:
        raise InputError(f"{log}: no such log (nor rotated {Path(log).name}.1, .2, ...)")
    return files


def _check_replaceable(target: Path, out: str | Path) -> None:
    """Refuse to replace anything but a snapshot: ``--out data`` must not swap the data away."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ParamsError(f"{out}: exists and is not a directory")
    if target.is_dir():
        other = sorted(p.name for p in target.iterdir() if p.name not in SNAPSHOT_FILES or p.is_dir())
        if other:
            more = ", ..." if len(other) > 3 else ""
            raise ParamsError(
                f"{out}: exists and is not a feedback snapshot (it holds {', '.join(other[:3])}{more}); "
                "choose another directory"
            )


def _remove_leftovers(target: Path) -> None:
    """Remove the hidden directories a killed snapshot left beside ``target`` (the caller holds the lock)."""
    leftover = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.new(\.old)?")
    if target.parent.is_dir():
        for p in target.parent.iterdir():
            if leftover.fullmatch(p.name) and p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)


def _write_log(dest: Path, logs: Sequence[str | Path], ids: set[str]) -> tuple[int, int, int]:
    """Write the lines of ``logs`` that the labels ``ids`` can join; (lines read, kept, customers found)."""
    n_read = n_kept = 0
    found: set[str] = set()

    def counted() -> Iterator[bytes]:
        nonlocal n_read
        for line in fb.log_lines(logs):
            n_read += 1
            yield line

    with open(dest, "wb") as fh:
        for customer_id, line in fb.labeled_lines(counted(), ids):
            fh.write(line if line.endswith(b"\n") else line + b"\n")
            n_kept += 1
            found.add(customer_id)
    return n_read, n_kept, len(found)


def _install(root: Path, staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target`` and ``dvc add`` it; on failure, put everything back.

    Afterwards ``staging`` holds the previous snapshot (or nothing), for the caller to remove.
    """
    saved = {p: _read_or_none(p) for p in (target.with_name(f"{target.name}.dvc"), target.parent / ".gitignore")}
    existed = target.is_dir()
    if existed:
        exchange(staging, target)
    else:
        os.rename(staging, target)
    try:
        _dvc_add(root, target)
    except BaseException:
        if existed:
            exchange(staging, target)
        else:
            os.rename(target, staging)
        for p, content in saved.items():
            if content is None:
                p.unlink(missing_ok=True)
            else:
                p.write_bytes(content)
        raise


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _dvc_add(root: Path, target: Path) -> None:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    rel = target.relative_to(root).as_posix()
    try:
        # DVC's hints (``git add ...``) would repeat ours; its errors reach us as exceptions.
        with quiet_dvc_logs(), Repo(str(root)) as repo:
            repo.add(str(target))
    except DvcException as err:
        raise SnapshotError(f"dvc add {rel} failed: {err}".splitlines()[0]) from None


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # <linux/fs.h>


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """Linux's ``renameat2`` from the C library, or None (another system, or an old glibc)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: Path, b: Path) -> None:
    """Swap two directories: in one step where the kernel can (``RENAME_EXCHANGE``), else by three renames."""
    renameat2 = _renameat2()
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # no exchange on this kernel or filesystem
            raise OSError(err, os.strerror(err), str(b))
    aside = a.with_name(f"{a.name}.old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)
