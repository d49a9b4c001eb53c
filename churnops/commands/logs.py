"""``churnops logs ship``: ship a log's rotated files to the archive, then apply retention.

One pass of :func:`churnops.service.shipper.ship` per ``--log``: for a timer (cron, a systemd
timer) beside a service that was started without an archive, or to drain what a stopped
service left. Running it while the service ships too is safe (same object names; deletion
under the writer's lock), only wasted work.

Exit codes: 0 (every rotated file is in the archive), 1 (the archive failed: one line naming
the bucket or directory and the cause; nothing was deleted), 2 (a bad argument).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from churnops.commands.common import OK, field_default, field_type


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from churnops.service.settings import Settings

    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ship = actions.add_parser(
        "ship",
        help="gzip and ship rotated log files (X.1, X.2...) to an archive, then delete shipped ones beyond --keep",
        description="Ship every rotated file of each --log not yet archived; a file is deleted only once "
        "the archive confirms it. S3: the settings of this project's DVC remote on that bucket (endpointurl, "
        "region, keys), else the environment (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID...).",
    )
    ship.add_argument("--log", action="append", required=True, help="the live log (X); repeat for several")
    ship.add_argument("--to", required=True, metavar="DEST", help="a directory, or s3://bucket/prefix")
    ship.add_argument(
        "--keep",
        type=field_type(Settings, "log_backups"),
        default=field_default(Settings, "log_backups"),
        help="shipped rotated files kept on disk (0: keep all; default: %(default)s, the service's --log-backups)",
    )
    ship.add_argument(
        "--host",
        help="the host named in object names (default: this machine's name); one per replica",
    )


def run(args: argparse.Namespace) -> int:
    from churnops.core.archive import name_part, open_archive
    from churnops.core.errors import ArchiveError, InputError, ParamsError
    from churnops.core.logformat import log_files
    from churnops.service.shipper import ship

    try:
        archive = open_archive(args.to)  # parses only: a malformed URL is a bad argument (2), not a failure (1)
    except ArchiveError as err:
        raise ParamsError(f"--to {err}") from None
    host = name_part(args.host) if args.host else None
    for log in args.log:  # all checked before any is shipped: a typo must not pass as "shipped 0" forever
        if not log_files(log):
            raise InputError(f"--log {log}: no such log (nor rotated {Path(log).name}.1, .2, ...)")
    for log in args.log:
        report = ship(Path(log), archive, args.keep, host)
        print(
            f"{log}: shipped {len(report.shipped)}, already archived {len(report.present)}, "
            f"deleted {len(report.deleted)} (keeping {args.keep or 'all'}) -> {archive.url}"
        )
    return OK
