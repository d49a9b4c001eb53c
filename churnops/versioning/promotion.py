"""``churnops promote``: move ``prod`` to the candidate that the committed verdict recommends.

The candidate is the model ``HEAD``'s ``dvc.lock`` records; its verdict is what the ``judge``
stage wrote at that commit (``metrics/judge.json``, with the champion it judged against pinned
in the lock as ``promote.champion``). Only committed files count, read from Git: the work tree
may hold an experiment or a half-finished build, and deploying is a decision about a commit.

The rule, in order:

1. the registry is empty: the first promotion takes the gated candidate (its verdict is about a
   champion that was never deployed, if any);
2. the candidate is prod already: nothing to do;
3. the verdict judged the candidate against another model than prod (prod moved since the
   build), or recommends keeping prod: refused, unless forced with a reason, which the audit
   commit records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnops.core import paths
from churnops.core.errors import LockfileError, PromotionRefusedError, RegistryError
from churnops.core.lockfile import locked_model, parse_lock
from churnops.versioning import champion as pinned
from churnops.versioning.deploy import Log, Outcome, change, deploy, short, stderr
from churnops.versioning.git import LOCK_WAIT_SECONDS, git, repo_root, show_file
from churnops.versioning.registry import Tip
from churnops.versioning.versions import Version, built_by

JUDGE_STAGE = "judge"
PROMOTE = "promote"
"""The verdict that recommends the candidate over a champion (the others: ``keep``, ``same``, ``first``)."""


@dataclass(frozen=True)
class Candidate:
    """HEAD's committed model and the verdict the ``judge`` stage gave it."""

    version: Version
    head: str
    subject: str
    verdict: str | None
    """``None``: HEAD's lock has no judge stage (a revision from before it, or never judged)."""
    champion: str | None
    """The md5 it was judged against (``promote.champion``); ``None``: no champion."""
    figures: dict[str, Any]
    """The verdict file's headline figures, for the audit commit."""

    def describe(self) -> str:
        figures = ", ".join(f"{k} {v}" for k, v in self.figures.items() if k != "verdict")
        return f"{self.verdict}" + (f" ({figures})" if figures else "")


def candidate(root: Path) -> Candidate:
    """HEAD's candidate, from Git objects only; RegistryError if HEAD's ``dvc.lock`` records no model."""
    head = git(["rev-parse", "--verify", "--quiet", "HEAD"], root, check=False).decode().strip()
    if not head:
        raise RegistryError("the repository has no commit yet: build and commit a candidate first")
    data = show_file(root, head, paths.LOCK)
    try:
        lock = parse_lock(data or b"", f"HEAD:{paths.LOCK}")
        model = locked_model(lock, paths.MODEL, f"HEAD:{paths.LOCK}")
    except LockfileError as err:
        raise RegistryError(f"{err}: run `dvc repro` and commit the candidate first") from None
    subject = git(["log", "-1", "--format=%s", head], root).decode().strip()
    version = Version(model.md5, built_by(root, model.md5, head), f"HEAD {head[:8]}")
    judge = (lock.get("stages") or {}).get(JUDGE_STAGE)
    if not isinstance(judge, dict):
        return Candidate(version, head, subject, None, None, {})
    judged = {d.get("path"): d.get("md5") for d in judge.get("deps") or [] if isinstance(d, dict)}
    if judged.get(paths.MODEL) != model.md5:
        raise RegistryError(
            f"HEAD's {paths.LOCK} records a verdict about model {short(str(judged.get(paths.MODEL)))}, "
            f"not its model {short(model.md5)}: run `dvc repro` and commit"
        )
    champion: str | None = None
    for values in (judge.get("params") or {}).values():
        if isinstance(values, dict) and pinned.KEY in values:
            champion = values[pinned.KEY]
    headline = show_file(root, head, paths.JUDGE_METRICS)
    try:
        figures = json.loads(headline) if headline is not None else {}
    except ValueError:
        figures = {}
    verdict = figures.get("verdict") if isinstance(figures, dict) else None
    return Candidate(version, head, subject, verdict if isinstance(verdict, str) else None, champion, figures)


def refusal(cand: Candidate, tip: Tip) -> str | None:
    """Why the rule refuses ``cand`` with the registry at ``tip``; ``None`` when it may go."""
    prod = tip.state.prod
    if prod is None:
        return None  # the first promotion: nothing deployed to be better than
    if cand.verdict is None:
        return f"HEAD {cand.head[:8]} has no verdict ({JUDGE_STAGE} is not in its {paths.LOCK})"
    if cand.champion != prod.md5:
        return (
            f"the committed verdict judged {short(cand.version.md5)} against {short(cand.champion)}, but prod is "
            f"{short(prod.md5)}: set {pinned.KEY}: {prod.md5} in params.yaml, run `dvc repro` and commit"
        )
    if cand.verdict != PROMOTE:
        return f"the committed verdict is {cand.describe()}: not better than prod beyond noise"
    return None


def promote(
    repo: str | Path,
    *,
    force: bool = False,
    reason: str | None = None,
    log: Log = stderr,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> Outcome:
    """Point ``prod`` at HEAD's candidate, as the rule (or ``force``, with a reason) allows.

    Raises:
        PromotionRefusedError: the rule refuses and ``force`` is off; nothing changed.
        RegistryError, ModelUnavailableError, RepositoryBusyError: see :func:`.deploy.deploy`.
    """
    root = repo_root(repo)
    cand = candidate(root)

    def check(tip: Tip) -> None:
        why = refusal(cand, tip)
        if why is not None and not force:
            raise PromotionRefusedError(why)

    def message(tip: Tip) -> Any:
        why = refusal(cand, tip)
        if tip.state.prod is None:
            body = [f"First promotion: the registry named no prod. Verdict: {cand.describe() or 'none'}."]
        elif why is None:
            body = [f"Verdict of {cand.head[:8]}: {cand.describe()}."]
        else:
            body = [f"Forced: {why}."]
        body.append(f"Built by: {cand.subject}")
        return change("promote", tip, cand.version, body, reason)

    return deploy(root, "promote", cand.version, message=message, check=check, log=log, lock_wait=lock_wait)
