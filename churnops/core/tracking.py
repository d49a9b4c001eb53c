"""Whether a project file reaches a clone: tracked by Git, or by DVC (a stage's output, or a ``.dvc`` file).

A stage input that is neither (the git-ignored ``logs/``) makes a commit a fresh clone cannot
rebuild; the ``feedback`` stage warns about it. A small module in ``core`` because a stage imports
it: changes to the Git plumbing elsewhere do not re-run the stage.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path, PurePosixPath

import yaml

from churnops.core import paths

_OUT_KINDS = ("outs", "metrics", "plots")


def versioned(path: str, root: str | Path = ".") -> bool | None:
    """Whether ``path`` (relative to ``root``), or a directory above it, is in Git or DVC.

    None when it cannot tell (no Git, an unreadable ``dvc.yaml``), not False: a warning must not cry wolf.
    """
    root = Path(root)
    rel = PurePosixPath(Path(os.path.normpath(path)).as_posix())
    if rel.is_absolute() or rel.parts[:1] == ("..",):
        return False  # outside the project: no clone has it
    chain = [rel, *rel.parents][:-1]  # not the root itself
    if any((root / f"{p}.dvc").is_file() for p in chain):
        return True
    outs = _stage_outs(root)
    if outs is not None and any(str(p) in outs for p in chain):
        return True
    in_git = _in_git(root, str(rel))
    if in_git:
        return True
    return None if in_git is None or outs is None else False


def _stage_outs(root: Path) -> set[str] | None:
    """The normalised outputs of ``dvc.yaml``, or None if it cannot be read."""
    try:
        doc = yaml.safe_load((root / paths.PIPELINE).read_text())
        found: set[str] = set()
        for stage in (doc.get("stages") or {}).values():
            for kind in _OUT_KINDS:
                for entry in stage.get(kind) or []:
                    out = entry if isinstance(entry, str) else next(iter(entry))
                    found.add(str(PurePosixPath(os.path.normpath(out))))
        return found
    except (OSError, yaml.YAMLError, AttributeError, TypeError, StopIteration):
        return None


def _in_git(root: Path, rel: str) -> bool | None:
    env = {**os.environ, "GIT_LITERAL_PATHSPECS": "1"}  # a file named like a pattern means that file
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--", rel], cwd=root, capture_output=True, env=env, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(proc.stdout) if proc.returncode == 0 else None
