"""``churnops models``: every model version, which one is prod, and the history of prod.

Exit codes (:mod:`churnops.commands.common`): 0 listed, 1 a git command failed (e.g. an
unknown ``--rev``), the registry is unreadable, or ``--prod`` and no model is prod; 2
``--repo`` is not a directory inside a Git work tree.
"""

from __future__ import annotations

import argparse
import json
import sys

from churnops.commands.common import add_repo_argument
from churnops.core.errors import GitError, ParamsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``churnops models``."""
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of tables")
    parser.add_argument(
        "--prod",
        action="store_true",
        help="print only prod's md5 (for scripts: `promote.champion: $(churnops models --prod)`); exit 1 if none",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="also list commits that changed params.yaml without a new model (e.g. train.gate_f1), with what changed",
    )
    add_repo_argument(parser)
    parser.add_argument("--rev", default="HEAD", help="list the models of this revision's history (default: HEAD)")


def run(args: argparse.Namespace) -> int:
    """Print the listing; the workspace's model is marked ``*``, prod's row says ``now``."""
    from churnops.versioning.git import repo_root
    from churnops.versioning.listing import build, format_table, to_json

    # The history is Git's: --repo is the project root as everywhere, but its workspace need not
    # hold dvc.yaml (a checkout of a branch before the pipeline existed still has a history).
    if not args.repo.is_dir():
        raise ParamsError(f"--repo {args.repo}: no such directory")
    try:
        root = repo_root(args.repo)
    except GitError:  # bad input, not a failed operation: the fix is another --repo
        raise ParamsError(
            f"--repo {args.repo}: not inside a Git repository (the models' history is Git's); "
            "pass --repo PATH of a project's Git work tree"
        ) from None
    if args.prod:
        from churnops.core.errors import RegistryError
        from churnops.versioning.registry import read

        tip = read(root)
        if tip.state.prod is None:
            raise RegistryError(f"no model is prod: {tip.name} {'names none' if tip.commit else 'does not exist yet'}")
        print(tip.state.prod.md5)
        return 0
    listing = build(root, args.rev, include_params=args.all)
    if args.json:
        json.dump(to_json(listing), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(listing, changes=args.all))
    return 0
