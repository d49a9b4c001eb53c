"""The code the ``churnops`` commands and the service run, and what a rollback may do to it.

Each stage's DVC deps are its import closure, so REV's ``dvc.lock`` pins modules that the
commands and the service import too (``churnops/core/errors.py``, ``core/params.py``...).
Restoring REV's copy of one could leave the next ``churnops`` command unable to start (an
``ImportError``: REV's ``errors.py`` lacks a class today's commands import), and a service
restarted afterwards on code that was never run together. So a rollback:

1. before touching anything, lists the *live* files it would change (:func:`changed_live_code`)
   and refuses (:class:`~churnops.core.errors.LiveCodeError`) unless the caller allows it;
2. when allowed, imports every live module in a fresh interpreter once REV's files are in
   place (:func:`check_imports`); a failure is raised inside the transaction, which undoes
   the whole rollback.

*Live* files are the import closure (:mod:`.closure`) of :data:`ENTRY_POINTS` plus every
module of :data:`COMMANDS_PACKAGE` (the CLI imports those by a name built at run time),
read from the work tree, which is what a command run now would execute.

*Changed* means REV holds the file and its blob differs from HEAD's. A file REV lacks is
never restored (:mod:`.plan` leaves it alone), so it does not count: a rollback across the
issue-12 renovation, whose revisions have no ``churnops/core/``, keeps today's ``core/``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from churnops.core.errors import LiveCodeError, RollbackError
from churnops.versioning.git import cat_file_check
from churnops.versioning.rollback.closure import import_closure, module_name
from churnops.versioning.rollback.dvcops import python
from churnops.versioning.rollback.plan import Plan

ENTRY_POINTS = ("churnops.cli", "churnops.service.app")
"""What a person or a server starts: the console script and the ASGI app (uvicorn imports it by name)."""

COMMANDS_PACKAGE = "churnops.commands"
"""``churnops.cli`` imports ``churnops.commands.<name>`` with :func:`importlib.import_module`."""

IMPORT_TIMEOUT = 120.0
"""Seconds the import check may take (it imports pandas, pyarrow, FastAPI...: about 1.5 s)."""

_PROBE = """\
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as err:
        print(f"importing {name} fails ({type(err).__name__}: {err})".splitlines()[0])
        sys.exit(1)
"""


def live_files(root: Path) -> set[str]:
    """Repo-relative paths of every project file the commands and the service can execute.

    Raises:
        RollbackError: a file of that code cannot be read or parsed.
    """
    commands = root.joinpath(*COMMANDS_PACKAGE.split("."))
    entries = [*ENTRY_POINTS]
    if commands.is_dir():
        entries += [f"{COMMANDS_PACKAGE}.{p.stem}" for p in sorted(commands.glob("*.py")) if p.stem != "__init__"]
    try:
        return import_closure(entries, root)
    except (OSError, UnicodeDecodeError, SyntaxError) as err:
        raise RollbackError(f"cannot read the code the commands run ({err}); nothing was changed") from None


def changed_live_code(root: Path, plan: Plan) -> tuple[list[str], set[str]]:
    """The live files the rollback would rewrite with content other than HEAD's, and the live set.

    The package modules REV's plan restores are compared with HEAD's first (one batched
    ``git cat-file``, ~10 ms); :func:`live_files`, which parses the imports of every module
    (~0.2 s), runs only when some module differs (the live set is empty otherwise), which a
    rollback across params alone never needs.
    """
    package = f"{COMMANDS_PACKAGE.split('.')[0]}/"
    candidates = sorted(p for p in plan.git_files if p.startswith(package) and p.endswith(".py"))
    differing: list[str] = []
    if candidates:
        at_rev = cat_file_check(root, [f"{plan.sha}:{p}" for p in candidates])
        at_head = cat_file_check(root, [f"HEAD:{p}" for p in candidates])
        pairs = zip(candidates, at_rev, at_head, strict=True)
        differing = [p for p, rev, now in pairs if rev is not None and rev != now]
    if not differing:
        return [], set()
    live = live_files(root)
    return [p for p in differing if p in live], live


def refuse_live_code(plan: Plan, changed: list[str]) -> None:
    """Raise if the rollback would change code the commands and the service import.

    Raises:
        LiveCodeError: naming up to 8 of the files.
    """
    if changed:
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        raise LiveCodeError(
            f"{plan.rev} would also restore code that the churnops commands and the service import, and its copy "
            f"differs from HEAD's ({shown}); that could break the next command or a restarted service; "
            "nothing was changed: roll back to a revision with the same code",
            changed,
        )


def check_imports(root: Path, live: set[str], rev: str) -> None:
    """Import every live module from ``root`` in a fresh interpreter, as the next command would.

    Raises:
        RollbackError: an import fails (the message names the module and the error) or hangs.
    """
    modules = sorted(module_name(p) for p in live)
    # The work tree's modules, not an installed copy (PYTHONSAFEPATH would drop the cwd); and
    # no .pyc of REV's code left behind.
    pythonpath = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": pythonpath, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONSAFEPATH": ""}
    try:
        proc = python(["-c", _PROBE, *modules], root, env, timeout=IMPORT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RollbackError(
            f"with {rev}'s code restored, importing the commands and the service took over {IMPORT_TIMEOUT:.0f} s"
        ) from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        detail = lines[0] if lines else f"exit status {proc.returncode}"
        raise RollbackError(f"with {rev}'s code restored, {detail}")
