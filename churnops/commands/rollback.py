"""``churnops rollback REV``: put an earlier model back, as a new commit.

Exit codes (:mod:`churnops.commands.common`): 0 done (or nothing to do; ``--status``:
nothing to report), 1 refused or failed with nothing changed, 2 bad usage or no project at
``--repo``, 3 ``--status`` found something to report, 75 another churnops command holds the
repository lock, 128+N interrupted by signal N (undone).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Annotated

from churnops.commands.common import (
    FOUND,
    INTERRUPTED,
    OK,
    SIGNALLED,
    add_repo_argument,
    project_root,
    value_type,
)
from churnops.core.errors import DataUnavailableError, DirtyTreeError, LiveCodeError, ParamsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``churnops rollback``."""
    parser.add_argument(
        "rev", metavar="REV", nargs="?", help="the revision whose model to restore (tag, branch, sha, HEAD~2)"
    )
    parser.add_argument("--no-commit", action="store_true", help="stage the changes but do not commit them")
    parser.add_argument("--force", action="store_true", help="proceed on a dirty working tree (local changes are lost)")
    parser.add_argument(
        "--allow-code",
        action="store_true",
        help="also restore REV's copy of code the churnops commands and the service import when it differs "
        "(undone unless that code still imports)",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="if REV's data is in neither the cache nor the remote (or the remote fails), reproduce it "
        "in a temporary worktree",
    )
    parser.add_argument(
        "--reload-url",
        metavar="URL",
        help="afterwards, POST URL/admin/reload (token from $CHURNOPS_ADMIN_TOKEN) and check URL/health",
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="only report a rollback in progress or an interrupted one awaiting recovery (exit 0 if none, 3 if any)",
    )
    from pydantic import Field

    parser.add_argument(
        "--wait",
        type=value_type(Annotated[float, Field(ge=0, allow_inf_nan=False)], "seconds"),
        default=None,
        metavar="SECONDS",
        help="how long to wait for another churnops command to release the repository (default: 3)",
    )
    add_repo_argument(parser)


def _admin_token() -> str | None:
    # Imported only when a reload is asked for: the service's settings pull in pydantic.
    from churnops.service.settings import ADMIN_TOKEN_ENV

    return os.environ.get(ADMIN_TOKEN_ENV) or None


def run(args: argparse.Namespace) -> int:
    """Roll back; one summary line on stdout, progress on stderr.

    Exit codes: 0 done, 1 refused or failed (nothing changed), 2 usage, 3 (``--status``)
    something to report, 75 another churnops command holds the repository lock,
    128+N killed by signal N (SIGINT, SIGTERM, SIGHUP: undone).
    """
    from churnops.versioning.git import LOCK_WAIT_SECONDS
    from churnops.versioning.rollback import Interrupted, rollback, status

    repo = project_root(args.repo)
    if args.status:
        lines = status(repo)
        print("\n".join(lines) if lines else "no rollback in progress or awaiting recovery")
        return FOUND if lines else OK
    if not args.rev:
        raise ParamsError("REV is required (or --status)")
    try:
        result = rollback(
            repo,
            args.rev,
            commit=not args.no_commit,
            force=args.force,
            allow_code=args.allow_code,
            rebuild_missing=args.rebuild,
            reload_url=args.reload_url,
            admin_token=_admin_token() if args.reload_url else None,
            lock_wait=LOCK_WAIT_SECONDS if args.wait is None else args.wait,
        )
    except DirtyTreeError as err:
        # The core says what is wrong; the flags that override it are this edge's business.
        err.args = (f"{err}, or use --force",)
        raise
    except LiveCodeError as err:
        err.args = (f"{err}, or use --allow-code to restore it anyway (undone unless it still imports)",)
        raise
    except DataUnavailableError as err:
        if err.rebuildable:
            err.args = (f"{err} (`--rebuild` reproduces it from REV's pipeline)",)
        raise
    except Interrupted as sig:
        print(f"churnops rollback: interrupted by {sig}; nothing was changed", file=sys.stderr)
        return SIGNALLED + sig.signum
    except KeyboardInterrupt:
        print("churnops rollback: interrupted; nothing was changed", file=sys.stderr)
        return INTERRUPTED
    where = f"{args.rev} ({result.sha[:8]})"
    if result.noop:
        print(f"already at model {result.md5} from {where}: nothing to roll back")
    elif result.commit:
        print(f"rolled back to model {result.md5} from {where}; committed {result.commit[:8]}")
    else:
        print(f"rolled back to model {result.md5} from {where}; changes staged, not committed (--no-commit)")
    if result.restored:
        print("restored: " + ", ".join(result.restored), file=sys.stderr)
    if result.code:
        # Worth saying out loud: a model rollback that also rolls back code.
        print(
            f"note: {args.rev}'s pipeline code was restored too (its dvc.lock pins it): " + ", ".join(result.code),
            file=sys.stderr,
        )
    if result.live_code:
        print(
            f"note: {args.rev}'s copy of code the commands and the service import was restored (--allow-code) and "
            "imports cleanly: " + ", ".join(result.live_code) + "; a running service keeps its code until restarted",
            file=sys.stderr,
        )
    if result.reload is not None:
        print(f"service reloaded: /health reports model_version {result.reload['health_model_version']}")
    return OK
