"""``churnops rollback VERSION|REV``: put an earlier model back in prod.

Exit codes: :mod:`churnops.commands.deployment`'s, shared with ``churnops promote``.
"""

from __future__ import annotations

import argparse

from churnops.commands import deployment
from churnops.commands.common import project_root
from churnops.core.errors import ChurnopsError, ModelUnavailableError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``churnops rollback``."""
    parser.add_argument("version", metavar="VERSION|REV",
                        help="the model: a Git revision (tag, branch, sha, HEAD~2) whose dvc.lock records it, "
                        "or its md5 (at least 6 digits; `churnops models` lists them)")  # fmt: skip
    parser.add_argument("--reason", metavar="TEXT", help="why: recorded in the registry's commit")
    parser.add_argument("--rebuild", action="store_true",
                        help="if the model is in neither the DVC cache nor the remote, reproduce it from its "
                        "commit in a temporary worktree (accepted only bit for bit)")  # fmt: skip
    deployment.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Roll back; one summary line on stdout, progress and warnings on stderr."""
    from churnops.versioning.deploy import rollback

    repo = project_root(args.repo)
    token = deployment.check_reload(args)
    try:
        outcome = rollback(repo, args.version, reason=args.reason, rebuild_missing=args.rebuild, lock_wait=args.wait)
    except ModelUnavailableError as err:
        deployment.nothing_changed(err)
        if not args.rebuild:
            err.args = (f"{err} (`--rebuild` reproduces it from its commit)",)
        raise
    except ChurnopsError as err:
        raise deployment.nothing_changed(err) from None
    return deployment.report(outcome, args, token)
