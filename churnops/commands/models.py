"""``churnops models``: every accepted model in the Git history, newest first."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``churnops models``."""
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    parser.add_argument(
        "--all",
        action="store_true",
        help="also list commits that changed params.yaml without a new model (e.g. train.gate_f1), with what changed",
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="the project's Git work tree (default: .)")
    parser.add_argument("--rev", default="HEAD", help="list the history of this revision (default: HEAD)")


def run(args: argparse.Namespace) -> int:
    """Print the listing; the workspace's model is marked ``*`` (``"current": true``)."""
    from churnops.versioning.git import repo_root
    from churnops.versioning.history import format_table, model_history, to_json, workspace_model_md5

    root = repo_root(args.repo)
    current = workspace_model_md5(root)
    entries = model_history(root, args.rev, current_md5=current, include_params=args.all)
    if args.json:
        json.dump(to_json(entries), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(entries, current, changes=args.all))
    return 0
