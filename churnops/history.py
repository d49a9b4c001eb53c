"""The model history of a repository, read with Git plumbing only.

A model "exists" in history where ``dvc.lock`` records a new hash for ``models/model.json``:
DVC writes the lock only after a stage succeeded, so every such commit holds a model
that passed the quality gate. Everything shown next to it (metrics, ``gate_f1``) is read
from the files *at that commit*, never from a checkout, so listing a long history costs
one ``git log`` and two ``git cat-file`` processes, whatever its length:

1. ``git log --full-history -- dvc.lock`` lists the commits that touched the lock, with
   their parents, dates, tags and subjects;
2. ``git cat-file --batch-check`` resolves ``REV:dvc.lock`` (and the metrics and params
   files) of those commits and their parents to blob ids;
3. ``git cat-file --batch`` reads each distinct blob once.

``--full-history`` matters: by default ``git log`` follows only the parent a merge is
identical to, which would hide the models of the other side of the merge.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from churnops.errors import GitError, LockfileError
from churnops.lockfile import MODEL_PATH, LockedModel, locked_model

LOCK_PATH = "dvc.lock"
EVALUATE_METRICS = "metrics/evaluate.json"
PARAMS_PATH = "params.yaml"
GATE_KEY = "train.gate_f1"

_FIELD = "\x1f"  # unit separator: cannot appear in a sha, a date, a ref name or a one-line subject


# --------------------------------------------------------------------------- git plumbing


def git_env() -> dict[str, str]:
    """The environment for git subprocesses: no pager, no prompts, stable output, literal paths."""
    env = dict(os.environ)
    # Literal pathspecs: a file named ``*.json`` or ``:x`` means that file, never a pattern.
    env.update({"GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_LITERAL_PATHSPECS": "1"})
    return env


def git(args: Sequence[str], cwd: str | Path, *, input: bytes | None = None, check: bool = True) -> bytes:
    """Run ``git ARGS`` in ``cwd`` and return its stdout.

    Raises:
        GitError: git is missing or exits non-zero (its first stderr line is in the message).
    """
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            env=git_env(),
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    except NotADirectoryError:
        raise GitError(f"{cwd}: not a directory") from None
    if check and proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = lines[0] if lines else f"exit status {proc.returncode}"
        raise GitError(f"git {args[0]} failed: {detail}")
    return proc.stdout


def repo_root(path: str | Path = ".") -> Path:
    """The top directory of the Git work tree containing ``path``.

    Raises:
        GitError: ``path`` does not exist or is not inside a Git work tree.
    """
    path = Path(path)
    if not path.is_dir():
        raise GitError(f"{path}: no such directory")
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True, env=git_env(), check=False
    )
    if proc.returncode != 0:
        raise GitError(f"{path.resolve()}: not inside a Git repository")
    return Path(proc.stdout.strip())


def cat_file_check(root: Path, names: Sequence[str]) -> list[str | None]:
    """Resolve object names (``REV:path``) to blob ids in one process; ``None`` where missing."""
    if not names:
        return []
    if any("\n" in n for n in names):
        raise GitError("object names cannot contain a newline")
    out = git(
        ["cat-file", "--batch-check=%(objectname) %(objecttype)"], root, input="".join(f"{n}\n" for n in names).encode()
    )
    result: list[str | None] = []
    for line in out.decode().splitlines():
        oid, _, kind = line.partition(" ")
        # A missing object prints "<name> missing"; a path naming a tree is no file for us.
        result.append(oid if kind == "blob" else None)
    if len(result) != len(names):
        raise GitError("git cat-file --batch-check answered an unexpected number of lines")
    return result


def cat_file_blobs(root: Path, oids: Iterable[str]) -> dict[str, bytes]:
    """Read blobs by id in one ``git cat-file --batch`` process."""
    wanted = list(dict.fromkeys(oids))
    if not wanted:
        return {}
    out = git(["cat-file", "--batch"], root, input="".join(f"{o}\n" for o in wanted).encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    for oid in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].decode().split()
        pos = end + 1
        if len(header) != 3:  # "<oid> missing"
            continue
        size = int(header[2])
        blobs[oid] = out[pos : pos + size]
        pos += size + 1  # the content is followed by a newline
    return blobs


def show_file(root: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``rev``, or ``None`` when that commit has no such file."""
    (oid,) = cat_file_check(root, [f"{rev}:{path}"])
    if oid is None:
        return None
    return cat_file_blobs(root, [oid]).get(oid)


# --------------------------------------------------------------------------- parsing


def parse_lock_fast(data: bytes, source: str) -> LockedModel | None:
    """The model a dvc.lock blob records, or ``None`` if it records none or is unreadable.

    Uses libyaml when available: a 500-commit history parses ~8x faster than with the
    pure-Python loader. A broken lock in some old commit hides that commit's model rather
    than failing the whole listing.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(data, Loader=loader)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("stages"), dict):
        return None
    try:
        return locked_model(doc, MODEL_PATH, source)
    except (LockfileError, AttributeError, TypeError):
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _metrics(data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {}
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _gate_from_params(data: bytes | None) -> float | None:
    if data is None:
        return None
    import yaml

    try:
        doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    train = doc.get("train") if isinstance(doc, dict) else None
    return _number(train.get("gate_f1")) if isinstance(train, dict) else None


def file_md5(path: Path) -> str | None:
    """The md5 of a file's bytes (what DVC records for a file output), or ``None`` if absent."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "md5").hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def workspace_model_md5(root: Path) -> str | None:
    """The md5 of the model in the workspace: its bytes if present, else what dvc.lock records."""
    md5 = file_md5(root / MODEL_PATH)
    if md5 is not None:
        return md5
    data = (root / LOCK_PATH).read_bytes() if (root / LOCK_PATH).is_file() else None
    locked = parse_lock_fast(data, LOCK_PATH) if data is not None else None
    return locked.md5 if locked else None


# --------------------------------------------------------------------------- the listing


@dataclass(frozen=True)
class ModelEntry:
    """One accepted model: the commit whose dvc.lock first recorded it (again)."""

    commit: str
    short: str
    date: str
    tags: tuple[str, ...]
    subject: str
    md5: str
    f1: float | None
    roc_auc: float | None
    gate_f1: float | None
    current: bool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        return d


@dataclass(frozen=True)
class _Commit:
    sha: str
    parents: tuple[str, ...]
    short: str
    date: str
    tags: tuple[str, ...]
    subject: str


def _log(root: Path, rev: str) -> list[_Commit]:
    fmt = _FIELD.join(["%H", "%P", "%h", "%aI", "%D", "%s"])
    out = git(
        [
            "log",
            "-z",
            "--full-history",
            "--no-color",
            "--decorate=short",
            "--decorate-refs=refs/tags/",
            f"--format={fmt}",
            rev,
            "--",
            LOCK_PATH,
        ],
        root,
    ).decode("utf-8", errors="replace")
    commits = []
    for record in out.split("\0"):
        if not record.strip():
            continue
        sha, parents, short, date, refs, subject = record.lstrip("\n").split(_FIELD, 5)
        names = (r.strip() for r in refs.split(","))
        tags = tuple(n.removeprefix("tag: ") for n in names if n.startswith("tag: "))
        commits.append(_Commit(sha, tuple(parents.split()), short, date, tags, subject))
    return commits


def model_history(root: str | Path, rev: str = "HEAD", current_md5: str | None = None) -> list[ModelEntry]:
    """Every model accepted in the history of ``rev``, newest first.

    A commit is listed when the model hash its ``dvc.lock`` records differs from the one
    recorded by each of its parents (a first model, a retrain, a rollback, or a merge whose
    re-run produced a new model). ``current_md5`` marks the matching entries ``current``;
    by default it is the workspace's model.

    Raises:
        GitError: not a Git repository, or ``rev`` is not a commit.
    """
    root = repo_root(root)
    if rev == "HEAD" and not git(["rev-parse", "--verify", "--quiet", "HEAD"], root, check=False).strip():
        return []  # a repository without commits has no history yet
    if not git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root, check=False).strip():
        raise GitError(f"unknown revision {rev!r}")
    if current_md5 is None:
        current_md5 = workspace_model_md5(root)

    commits = _log(root, rev)
    parents = sorted({p for c in commits for p in c.parents})
    names = [f"{p}:{LOCK_PATH}" for p in parents]
    for c in commits:
        names += [f"{c.sha}:{LOCK_PATH}", f"{c.sha}:{EVALUATE_METRICS}", f"{c.sha}:{PARAMS_PATH}"]
    oids = dict(zip(names, cat_file_check(root, names), strict=True))
    blobs = cat_file_blobs(root, (o for o in oids.values() if o is not None))

    locks: dict[str, LockedModel | None] = {}

    def lock_at(sha: str) -> LockedModel | None:
        oid = oids.get(f"{sha}:{LOCK_PATH}")
        if oid is None or oid not in blobs:
            return None
        if oid not in locks:
            locks[oid] = parse_lock_fast(blobs[oid], f"{sha[:8]}:{LOCK_PATH}")
        return locks[oid]

    def blob(sha: str, path: str) -> bytes | None:
        oid = oids.get(f"{sha}:{path}")
        return blobs.get(oid) if oid else None

    entries = []
    for c in commits:
        locked = lock_at(c.sha)
        if locked is None:
            continue
        before = {m.md5 for m in (lock_at(p) for p in c.parents) if m is not None}
        if locked.md5 in before:
            continue
        metrics = _metrics(blob(c.sha, EVALUATE_METRICS))
        gate = _number(locked.params.get(GATE_KEY))
        if gate is None:
            gate = _gate_from_params(blob(c.sha, PARAMS_PATH))
        entries.append(
            ModelEntry(
                commit=c.sha,
                short=c.short,
                date=c.date,
                tags=c.tags,
                subject=c.subject,
                md5=locked.md5,
                f1=_number(metrics.get("f1")),
                roc_auc=_number(metrics.get("roc_auc")),
                gate_f1=gate,
                current=locked.md5 == current_md5,
            )
        )
    return entries


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(entries: Sequence[ModelEntry], current_md5: str | None = None) -> str:
    """The human listing: one row per model, ``*`` marks the workspace's model."""
    if not entries:
        return "no accepted model in this history (dvc.lock never recorded models/model.json)\n"
    header = ("", "COMMIT", "DATE", "MD5", "F1", "ROC_AUC", "GATE_F1", "TAGS", "SUBJECT")
    rows = [header]
    for e in entries:
        rows.append(
            (
                "*" if e.current else "",
                e.short,
                e.date[:19].replace("T", " "),
                e.md5[:12],
                _fmt(e.f1),
                _fmt(e.roc_auc),
                _fmt(e.gate_f1, 2),
                ",".join(e.tags) or "-",
                e.subject,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1] for r in rows]
    text = "\n".join(line.rstrip() for line in lines) + "\n"
    if current_md5 and not any(e.current for e in entries):
        text += f"\nthe workspace's model ({current_md5}) is not recorded by any commit listed above\n"
    return text


def to_json(entries: Sequence[ModelEntry]) -> list[Mapping[str, Any]]:
    """The ``--json`` form: a list of objects with the same fields as the table."""
    return [e.to_dict() for e in entries]
