"""``churnops rollback REV``: put an earlier model back, as a new commit."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``churnops rollback``."""
    parser.add_argument("rev", metavar="REV", help="the revision whose model to restore (tag, branch, sha, HEAD~2)")
    parser.add_argument("--no-commit", action="store_true", help="stage the changes but do not commit them")
    parser.add_argument("--force", action="store_true", help="proceed on a dirty working tree (local changes are lost)")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="if REV's data is in neither the cache nor the remote, reproduce it in a temporary worktree",
    )
    parser.add_argument(
        "--reload-url",
        metavar="URL",
        help="afterwards, POST URL/admin/reload (token from $CHURNOPS_ADMIN_TOKEN) and check URL/health",
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="the project's Git work tree (default: .)")


def run(args: argparse.Namespace) -> int:
    """Roll back; one summary line on stdout, progress on stderr."""
    from churnops.rollback import ADMIN_TOKEN_ENV, rollback

    result = rollback(
        args.repo,
        args.rev,
        commit=not args.no_commit,
        force=args.force,
        rebuild_missing=args.rebuild,
        reload_url=args.reload_url,
        admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
    )
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
    if result.reload is not None:
        print(f"service reloaded: /health reports model_version {result.reload['health_model_version']}")
    return 0
