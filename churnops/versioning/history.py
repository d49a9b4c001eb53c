"""The model versions of a repository's history, read with Git plumbing only.

A model "exists" in history where ``dvc.lock`` records a new hash for ``models/model.json``
(DVC writes the lock only after a stage succeeded, so past the quality gate). Everything shown
next to it is read from the files *at that commit*, so a long history costs one ``git log``
and two ``git cat-file`` processes, whatever its length.

``--full-history`` matters: by default ``git log`` follows only the parent a merge is
identical to, which would hide the models of the other side of the merge.

Versions only the registry knows are read the same way by :func:`entries_at`; :mod:`.listing`
puts both beside the registry's events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from churnops.core import paths
from churnops.core.errors import GitError, LockfileError
from churnops.core.lockfile import LockedModel, locked_model, parse_lock
from churnops.versioning.git import cat_file_blobs, cat_file_check, git, repo_root
from churnops.versioning.store import file_md5

GATE_KEY = "train.gate_f1"

_FIELD = "\x1f"  # unit separator: cannot appear in a sha, a date, a ref name or a one-line subject


def parse_lock_fast(data: bytes, source: str) -> LockedModel | None:
    """The model a dvc.lock blob records, or ``None``: a broken old lock hides its model, not the listing."""
    try:
        return locked_model(parse_lock(data, source), paths.MODEL, source)
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


def _params(data: bytes | None) -> dict[str, Any] | None:
    """``params.yaml`` flattened to dotted keys (``train.gate_f1``), or ``None`` if absent or broken."""
    if data is None:
        return None
    import yaml

    try:
        doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    flat: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value

    walk(doc, "")
    return flat


def workspace_model_md5(root: Path) -> str | None:
    """The md5 of the model in the workspace: its bytes if present, else what dvc.lock records."""
    md5 = file_md5(root / paths.MODEL)
    if md5 is not None:
        return md5
    data = (root / paths.LOCK).read_bytes() if (root / paths.LOCK).is_file() else None
    locked = parse_lock_fast(data, paths.LOCK) if data is not None else None
    return locked.md5 if locked else None


@dataclass(frozen=True)
class ModelEntry:
    """One listed commit: a new model (``change == "model"``), or with ``--all`` a params change.

    ``params_changed``: dotted key -> ``[old, new]`` against the first parent (``None``: absent).
    """

    commit: str
    short: str
    date: str
    tags: tuple[str, ...]
    subject: str
    md5: str | None
    f1: float | None
    roc_auc: float | None
    gate_f1: float | None
    current: bool
    change: str = "model"
    params_changed: dict[str, list[Any]] = field(default_factory=dict)

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


def _log(root: Path, revs: Sequence[str], paths: Sequence[str] = (), *, no_walk: bool = False) -> list[_Commit]:
    fmt = _FIELD.join(["%H", "%P", "%h", "%aI", "%D", "%s"])
    walk = ["--no-walk=unsorted"] if no_walk else ["--full-history"]
    out = git(
        ["log", "-z", *walk, "--no-color", "--decorate=short", "--decorate-refs=refs/tags/", f"--format={fmt}",
         *revs, "--", *paths],
        root,
    ).decode("utf-8", errors="replace")  # fmt: skip
    commits = []
    for record in out.split("\0"):
        if not record.strip():
            continue
        sha, parents, short, date, refs, subject = record.lstrip("\n").split(_FIELD, 5)
        names = (r.strip() for r in refs.split(","))
        tags = tuple(n.removeprefix("tag: ") for n in names if n.startswith("tag: "))
        commits.append(_Commit(sha, tuple(parents.split()), short, date, tags, subject))
    return commits


def _diff_params(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, list[Any]]:
    old = old or {}
    return {k: [old.get(k), new.get(k)] for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)}


def model_history(
    root: str | Path, rev: str = "HEAD", current_md5: str | None = None, *, include_params: bool = False
) -> list[ModelEntry]:
    """Every model accepted in the history of ``rev``, newest first.

    A commit is listed when its ``dvc.lock``'s model differs from each of its parents'. With
    ``include_params``, so is one whose ``params.yaml`` does, so a gate change that kept the
    model shows. ``current_md5`` (default: the workspace's model) marks entries ``current``.

    Raises GitError when ``root`` is not a Git repository or ``rev`` not a commit.
    """
    root = repo_root(root)
    if rev == "HEAD" and not git(["rev-parse", "--verify", "--quiet", "HEAD"], root, check=False).strip():
        return []
    if not git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root, check=False).strip():
        raise GitError(f"unknown revision {rev!r}")
    if current_md5 is None:
        current_md5 = workspace_model_md5(root)

    commits = _log(root, [rev], [paths.LOCK, paths.PARAMS] if include_params else [paths.LOCK])
    parents = sorted({p for c in commits for p in c.parents})
    names = [f"{p}:{paths.LOCK}" for p in parents]
    if include_params:
        names += [f"{p}:{paths.PARAMS}" for p in parents]
    for c in commits:
        names += [f"{c.sha}:{paths.LOCK}", f"{c.sha}:{paths.EVALUATE_METRICS}", f"{c.sha}:{paths.PARAMS}"]
    oids = dict(zip(names, cat_file_check(root, names), strict=True))
    blobs = cat_file_blobs(root, (o for o in oids.values() if o is not None))

    locks: dict[str, LockedModel | None] = {}
    params: dict[str, dict[str, Any] | None] = {}

    def lock_at(sha: str) -> LockedModel | None:
        oid = oids.get(f"{sha}:{paths.LOCK}")
        if oid is None or oid not in blobs:
            return None
        if oid not in locks:
            locks[oid] = parse_lock_fast(blobs[oid], f"{sha[:8]}:{paths.LOCK}")
        return locks[oid]

    def params_at(sha: str) -> dict[str, Any] | None:
        oid = oids.get(f"{sha}:{paths.PARAMS}")
        if oid is None or oid not in blobs:
            return None
        if oid not in params:
            params[oid] = _params(blobs[oid])
        return params[oid]

    def blob(sha: str, path: str) -> bytes | None:
        oid = oids.get(f"{sha}:{path}")
        return blobs.get(oid) if oid else None

    entries = []
    for c in commits:
        locked = lock_at(c.sha)
        before = {m.md5 for m in (lock_at(p) for p in c.parents) if m is not None}
        new_model = locked is not None and locked.md5 not in before
        changed: dict[str, list[Any]] = {}
        now = params_at(c.sha) if include_params and c.parents else None
        if now is not None and all(params_at(p) != now for p in c.parents):
            changed = _diff_params(params_at(c.parents[0]), now)
        if not new_model and not changed:
            continue
        metrics = _metrics(blob(c.sha, paths.EVALUATE_METRICS))
        gate = _number(locked.params.get(GATE_KEY)) if locked else None
        if gate is None:
            gate = _number((params_at(c.sha) or {}).get(GATE_KEY))
        entries.append(
            ModelEntry(
                commit=c.sha,
                short=c.short,
                date=c.date,
                tags=c.tags,
                subject=c.subject,
                md5=locked.md5 if locked else None,
                f1=_number(metrics.get("f1")),
                roc_auc=_number(metrics.get("roc_auc")),
                gate_f1=gate,
                current=new_model and locked is not None and locked.md5 == current_md5,
                change="model" if new_model else "params",
                params_changed=changed,
            )
        )
    return entries


def entries_at(root: Path, models: Mapping[str, str], current_md5: str | None) -> list[ModelEntry]:
    """Entries for models known by ``{md5: commit that built it}`` (the registry's), newest commit first.

    A commit that no longer exists (a branch deleted and garbage-collected) is skipped.
    """
    wanted = {c: m for m, c in models.items()}
    checked = git(["cat-file", "--batch-check=%(objectname) %(objecttype)"], root,
                  input="".join(f"{c}\n" for c in wanted).encode()).decode().splitlines()  # fmt: skip
    shas = [line.split()[0] for line in checked if line.endswith(" commit")]
    if not shas:
        return []
    commits = sorted(_log(root, shas, no_walk=True), key=lambda c: c.date, reverse=True)
    names = [f"{c.sha}:{path}" for c in commits for path in (paths.LOCK, paths.EVALUATE_METRICS)]
    oids = dict(zip(names, cat_file_check(root, names), strict=True))
    blobs = cat_file_blobs(root, (o for o in oids.values() if o is not None))
    out = []
    for c in commits:
        lock_oid, metrics_oid = oids[f"{c.sha}:{paths.LOCK}"], oids[f"{c.sha}:{paths.EVALUATE_METRICS}"]
        locked = parse_lock_fast(blobs[lock_oid], c.short) if lock_oid else None
        metrics = _metrics(blobs.get(metrics_oid) if metrics_oid else None)
        md5 = wanted[c.sha]
        out.append(
            ModelEntry(
                commit=c.sha, short=c.short, date=c.date, tags=c.tags, subject=c.subject, md5=md5,
                f1=_number(metrics.get("f1")), roc_auc=_number(metrics.get("roc_auc")),
                gate_f1=_number(locked.params.get(GATE_KEY)) if locked else None, current=md5 == current_md5,
            )
        )  # fmt: skip
    return out
