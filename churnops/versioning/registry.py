"""The model registry: which model each stage (``prod``) serves, kept on its own Git branch.

The branch ``churnops/registry`` holds one file, ``registry.json``::

    {"format": "churnops-registry/1",
     "stages": {"prod": {"commit": "<sha that built it>", "md5": "<the model's md5>"}}}

Every change is one commit on that branch, so ``git log churnops/registry`` is the deployment
history: who moved ``prod``, when, and why (:data:`TRAILERS` make it machine-readable).

The branch is nobody's work tree: promoting or rolling back never touches the files, the
index or ``HEAD``, and no checkout, merge or experiment changes what is served. A change is
written with Git plumbing and made to count by one ``update-ref NEW OLD``: atomic, refused if
the branch moved meanwhile, so a kill at any instant leaves the old pointer or the new one.

Readers take the local branch, else the one remote-tracking branch of that name: a fresh
clone serves what the team promoted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnops.core.errors import GitError, RegistryError
from churnops.versioning.faults import fault
from churnops.versioning.git import cat_file_blobs, cat_file_check, common_git_dir, git

BRANCH = "churnops/registry"
REF = f"refs/heads/{BRANCH}"
FILE = "registry.json"
FORMAT = "churnops-registry/1"
PROD = "prod"
STAGES = (PROD,)

ZERO = "0" * 40
"""``update-ref``'s "the ref must not exist yet"."""

TRAILERS = {"action": "Churnops-Action", "reason": "Churnops-Reason"}

STALE_LOCK_SECONDS = 2.0
"""A ref lock this old on the registry branch is a killed writer's (:func:`_clear_stale_lock`)."""


@dataclass(frozen=True)
class Entry:
    """A stage's model: its md5 and the commit that built it."""

    md5: str
    commit: str

    def to_dict(self) -> dict[str, str]:
        return {"commit": self.commit, "md5": self.md5}


@dataclass(frozen=True)
class State:
    """The content of ``registry.json``: each stage's entry."""

    stages: Mapping[str, Entry] = field(default_factory=dict)

    @property
    def prod(self) -> Entry | None:
        return self.stages.get(PROD)

    def with_stage(self, stage: str, entry: Entry) -> State:
        return State({**self.stages, stage: entry})


def _hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and all(c in "0123456789abcdef" for c in value)


def parse(data: bytes, source: str) -> State:
    """Read ``registry.json`` strictly: a hand edit that breaks it is a RegistryError naming the field."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise RegistryError(f"{source}: not valid JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise RegistryError(f"{source}: format: expected {FORMAT!r} (got {got!r})")
    stages = doc.get("stages")
    if not isinstance(stages, dict) or set(doc) - {"format", "stages"}:
        raise RegistryError(f"{source}: expected the keys 'format' and 'stages' only")
    out: dict[str, Entry] = {}
    for name, entry in stages.items():
        where = f"{source}: stages.{name}"
        if name not in STAGES:
            raise RegistryError(f"{where}: unknown stage (known: {', '.join(STAGES)})")
        if not isinstance(entry, dict) or set(entry) != {"md5", "commit"}:
            raise RegistryError(f"{where}: expected the keys 'md5' and 'commit'")
        if not _hex(entry["md5"], 32):
            raise RegistryError(f"{where}.md5: expected 32 lowercase hex digits (got {entry['md5']!r})")
        if not _hex(entry["commit"], 40):
            raise RegistryError(f"{where}.commit: expected a full 40-digit commit sha (got {entry['commit']!r})")
        out[name] = Entry(entry["md5"], entry["commit"])
    return State(out)


def dumps(state: State) -> bytes:
    """Canonical bytes of a registry."""
    doc = {"format": FORMAT, "stages": {k: v.to_dict() for k, v in sorted(state.stages.items())}}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class Tip:
    """The registry as one ref shows it."""

    ref: str | None  # the full ref name; None: no registry yet
    commit: str | None
    state: State

    @property
    def name(self) -> str:
        """The ref as a person would type it (``churnops/registry``, ``origin/churnops/registry``)."""
        if self.ref is None:
            return BRANCH
        for prefix in ("refs/heads/", "refs/remotes/", "refs/"):
            if self.ref.startswith(prefix):
                return self.ref.removeprefix(prefix)
        return self.ref


def _refs(root: Path, pattern: str) -> dict[str, str]:
    out = git(["for-each-ref", "--format=%(refname) %(objectname)", pattern], root).decode()
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def resolve_ref(root: Path, ref: str | None = None) -> str | None:
    """The full name of ``ref``, by default the local branch, else the single remote-tracking one; or None.

    Raises RegistryError when ``ref`` names nothing, or several remotes have a registry branch.
    """
    if ref is not None:
        full = git(["rev-parse", "--verify", "--quiet", "--symbolic-full-name", ref], root, check=False).decode()
        full = full.strip()
        if not full:
            raise RegistryError(f"registry ref {ref!r}: no such branch or ref")
        return full
    if _refs(root, REF):
        return REF
    remote = sorted(r for r in _refs(root, "refs/remotes/") if r.endswith(f"/{BRANCH}"))
    if len(remote) > 1:
        raise RegistryError(
            f"no local {BRANCH} branch, and several remotes have one ({', '.join(r[13:] for r in remote)}): "
            f"create it from the right one (git branch {BRANCH} REMOTE/{BRANCH})"
        )
    return remote[0] if remote else None


def read(root: Path, ref: str | None = None) -> Tip:
    """The registry at the tip of its ref (empty when there is none yet).

    Raises RegistryError when it is unreadable, GitError when git fails.
    """
    full = resolve_ref(root, ref)
    if full is None:
        return Tip(None, None, State())
    commit = git(["rev-parse", "--verify", "--quiet", f"{full}^{{commit}}"], root, check=False).decode().strip()
    if not commit:
        raise RegistryError(f"registry ref {full}: not a commit")
    (oid,) = cat_file_check(root, [f"{commit}:{FILE}"])
    if oid is None:
        raise RegistryError(f"{Tip(full, commit, State()).name}: has no {FILE}")
    data = cat_file_blobs(root, [oid]).get(oid, b"")
    return Tip(full, commit, parse(data, f"{Tip(full, commit, State()).name}:{FILE}"))


@dataclass(frozen=True)
class Change:
    """One move of a stage's pointer, with the words of its audit commit."""

    action: str  # promote, rollback
    stage: str
    entry: Entry
    subject: str
    body: str = ""
    reason: str | None = None

    def message(self) -> str:
        trailers = [f"{TRAILERS['action']}: {self.action}"]
        if self.reason:
            trailers.append(f"{TRAILERS['reason']}: {' '.join(self.reason.split())}")
        return "\n\n".join(p for p in (self.subject, self.body.strip(), "\n".join(trailers)) if p) + "\n"


def _clear_stale_lock(root: Path) -> None:
    """Remove the registry ref's ``.lock`` file that a killed ``update-ref`` left behind.

    The caller holds the repository lock, which every child of a churnops writer inherits, and
    only churnops writes this branch: a lock file that lives on is a dead writer's. A young one
    may be ``git pack-refs``'s for a moment, so it is waited for (at most
    :data:`STALE_LOCK_SECONDS`) rather than refused: a retry right after a kill then succeeds.
    """
    lock = common_git_dir(root) / f"{REF}.lock"
    deadline = time.monotonic() + STALE_LOCK_SECONDS  # bounded even if the file's mtime is in the future
    while True:
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return
        if age >= STALE_LOCK_SECONDS or time.monotonic() >= deadline:
            lock.unlink(missing_ok=True)
            return
        time.sleep(0.05)


def write(root: Path, change: Change, expect: Tip) -> str:
    """Commit ``change`` on the registry branch, on top of ``expect``; return the new commit.

    The caller holds the repository lock (:func:`churnops.versioning.git.repo_lock`). RegistryError,
    and nothing written, if the registry moved since ``expect`` was read; GitError if git failed.
    """
    if change.stage not in STAGES:
        raise RegistryError(f"unknown stage {change.stage!r} (known: {', '.join(STAGES)})")
    state = expect.state.with_stage(change.stage, change.entry)
    blob = git(["hash-object", "-w", "--stdin"], root, input=dumps(state)).decode().strip()
    tree = git(["mktree"], root, input=f"100644 blob {blob}\t{FILE}\n".encode()).decode().strip()
    parents = ["-p", expect.commit] if expect.commit else []
    commit = git(["commit-tree", tree, *parents, "-F", "-"], root, input=change.message().encode()).decode().strip()
    fault("registry-commit-written")
    # A clone without the local branch creates it, with the remote-tracking commit as parent.
    local = _refs(root, REF).get(REF)
    if expect.ref == REF or expect.ref is None:
        old = expect.commit or ZERO
    elif local is None:
        old = ZERO
    else:
        raise RegistryError(f"the local {BRANCH} branch appeared while the registry was read from {expect.name}")
    _clear_stale_lock(root)
    try:
        git(["-c", "core.filesRefLockTimeout=1000", "update-ref", "-m", f"churnops {change.action}",
             REF, commit, old], root)  # fmt: skip
    except GitError as err:
        now = _refs(root, REF).get(REF)
        if now != (None if old == ZERO else old):
            raise RegistryError(
                f"{BRANCH} moved while this {change.action} was being written (now at {str(now)[:8]}); "
                "nothing was changed: run the command again"
            ) from None
        raise err from None
    fault("registry-updated")
    return commit
