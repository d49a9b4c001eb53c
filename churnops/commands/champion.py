"""``churnops champion``: make the accepted model the champion the next ``train`` must beat.

Copies the model file that ``dvc.lock`` records (verified against its md5) to the Git-tracked
``models/champion.json`` (:mod:`churnops.promote`). Run it after a promotion, before
committing; ``dvc repro`` then records the new champion as the ``train`` stage's input (the
model is rebuilt byte-identical). ``--check`` only reports whether the copy is current.

Exit codes: 0 (copied, already current, or ``--check`` and current), 1 (``--check`` and
stale), 2 (bad flag, no project, no locked model in the workspace or a corrupt one).
"""

from __future__ import annotations

import argparse

from churnops.commands.common import FAILURE, OK, add_repo_argument, project_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_repo_argument(parser)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when the champion is stale")


def run(args: argparse.Namespace) -> int:
    from churnops.core.errors import DataError
    from churnops.core.io import atomic_open
    from churnops.core.lockfile import read_locked_model
    from churnops.pipeline.promote import CHAMPION_PATH
    from churnops.pipeline.scorer import md5_bytes

    root = project_root(args.repo)
    locked = read_locked_model(root / "dvc.lock")
    champion = root / CHAMPION_PATH
    current = champion.read_bytes() if champion.is_file() else b""
    if md5_bytes(current) == locked.md5:
        print(f"champion is current: {locked.md5}")
        return OK
    if args.check:
        print(f"champion is stale: {md5_bytes(current) if current else 'absent'} != {locked.md5} in dvc.lock")
        return FAILURE
    model = root / locked.path
    data = model.read_bytes() if model.is_file() else b""
    if md5_bytes(data) != locked.md5:
        raise DataError(f"{locked.path}: not the model dvc.lock records ({locked.md5}); run `dvc checkout` first")
    with atomic_open(champion, "wb") as fh:
        fh.write(data)
    print(f"champion is now {locked.md5} ({CHAMPION_PATH}); run `dvc repro` to record it, then commit")
    return OK
