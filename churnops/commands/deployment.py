"""What ``churnops promote`` and ``churnops rollback`` share: their flags, the report, the reload.

Exit codes (:mod:`churnops.commands.common`): 0 done, or nothing to do (already prod); 1 refused
or failed, nothing changed (a verdict that does not recommend the candidate, a model in
neither the cache nor the remote, a remote that fails, a service that did not reload; then
the registry commit stands and the message says so); 2 bad usage (an unknown version, ``--force``
without ``--reason``); 75 another churnops command holds the repository lock.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Annotated

from churnops.commands.common import add_repo_argument, value_type
from churnops.core.errors import ChurnopsError, ParamsError, RepositoryBusyError, ServiceReloadError
from churnops.versioning.deploy import Outcome, short
from churnops.versioning.git import LOCK_WAIT_SECONDS

SUFFIX = "; nothing was changed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags both commands take."""
    from pydantic import Field

    parser.add_argument(
        "--reload-url",
        metavar="URL",
        help="afterwards, POST URL/admin/reload (token from $CHURNOPS_ADMIN_TOKEN) and check URL/health",
    )
    parser.add_argument(
        "--wait",
        type=value_type(Annotated[float, Field(ge=0, allow_inf_nan=False)], "seconds"),
        default=LOCK_WAIT_SECONDS,
        metavar="SECONDS",
        help="how long to wait for another churnops command to release the repository (default: %(default)g)",
    )
    add_repo_argument(parser)


def admin_token() -> str | None:
    # Imported only when a reload is asked for: the service's settings pull in pydantic.
    from churnops.service.settings import ADMIN_TOKEN_ENV

    return os.environ.get(ADMIN_TOKEN_ENV) or None


def check_reload(args: argparse.Namespace) -> str | None:
    """Refuse a reload that cannot work before anything changes; return the token to use."""
    if not args.reload_url:
        return None
    from churnops.service.client import check_target

    token = admin_token()
    check_target(args.reload_url, token)
    return token


def nothing_changed(err: ChurnopsError) -> ChurnopsError:
    """Every refusal or failure before the registry write changed nothing: say so, once."""
    if not isinstance(err, ParamsError | RepositoryBusyError) and not str(err).endswith(SUFFIX):
        err.args = (f"{err}{SUFFIX}",)
    return err


def report(outcome: Outcome, args: argparse.Namespace, token: str | None) -> int:
    """Print what happened (one line on stdout), warnings on stderr; then reload if asked."""
    v = outcome.version
    if outcome.already:
        print(f"model {short(v.md5)} ({v.label}) is already prod: nothing to do")
    else:
        was = f"was {short(outcome.previous.md5)}" if outcome.previous else "no prod before"
        print(
            f"prod is now model {short(v.md5)} (built by {v.commit[:8]}; {was}); "
            f"committed {str(outcome.registry_commit)[:8]} on {outcome.registry_ref}"
        )
    if outcome.rebuilt:
        print(f"rebuilt {outcome.rebuilt} object(s) from {v.commit[:8]} into the DVC cache", file=sys.stderr)
    for warning in outcome.warnings:
        print(warning, file=sys.stderr)
    if args.reload_url and token:
        from churnops.service.client import reload_service

        try:
            result = reload_service(args.reload_url, token, v.md5)
        except ServiceReloadError as err:
            commit = str(outcome.registry_commit)[:8]
            done = "the registry is unchanged" if outcome.already else f"the registry commit {commit} stands"
            raise ServiceReloadError(f"{done}, but the service did not reload: {err}") from None
        print(f"service reloaded: /health reports model_version {result['health_model_version']}")
    return 0
