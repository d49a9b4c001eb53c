"""``churnops promote``: put HEAD's candidate in prod, as its committed verdict recommends.

Exit codes: :mod:`churnops.commands.deployment`'s, shared with ``churnops rollback``.
"""

from __future__ import annotations

import argparse

from churnops.commands import deployment
from churnops.commands.common import project_root
from churnops.core.errors import ChurnopsError, ParamsError, PromotionRefusedError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``churnops promote``."""
    parser.add_argument("--force", action="store_true",
                        help="promote although the verdict does not recommend it (needs --reason)")  # fmt: skip
    parser.add_argument("--reason", metavar="TEXT", help="why: recorded in the registry's commit")
    deployment.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Promote; one summary line on stdout, warnings on stderr."""
    from churnops.versioning.promotion import promote

    if args.force and not (args.reason and args.reason.strip()):
        raise ParamsError("--force needs --reason TEXT: the registry records why a verdict was overridden")
    repo = project_root(args.repo)
    token = deployment.check_reload(args)
    try:
        outcome = promote(repo, force=args.force, reason=args.reason, lock_wait=args.wait)
    except PromotionRefusedError as err:
        err.args = (
            f"{str(err).removesuffix(deployment.SUFFIX)}{deployment.SUFFIX} (--force --reason TEXT overrides it)",
        )
        raise
    except ChurnopsError as err:
        raise deployment.nothing_changed(err) from None
    return deployment.report(outcome, args, token)
