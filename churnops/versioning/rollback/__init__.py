"""Roll the workspace back to the model of an earlier revision, as one forward commit.

One concern per module:

- :mod:`.plan`     what REV's pipeline state is, from Git objects only;
- :mod:`.livecode` the code the commands and the service run: refuse to change it unasked,
                   and check it still imports when allowed (its closure: :mod:`.closure`);
- :mod:`.dvcops`   DVC: status, cache look-ups, remote fetches (one line per failure), checkout;
- :mod:`.journal`  the transaction: a journal fsync'd before anything is touched, the
                   backup, and the recovery that undoes (or finishes) a run that died;
- :mod:`.rebuild`  ``--rebuild``: reproduce REV in a temporary worktree, bit for bit or not at all;
- :mod:`.core`     the orchestration: lock, recover, plan, fetch, apply, commit;
- :mod:`.faults`   named fault points for the kill tests (``$CHURNOPS_FAULT``).

The Git plumbing (and the repository lock) is :mod:`churnops.versioning.git`; the reload client is
:mod:`churnops.service.client`.
"""

from __future__ import annotations

from churnops.core.errors import DataUnavailableError, DirtyTreeError, LiveCodeError
from churnops.versioning.rollback.core import RollbackResult, rollback, status
from churnops.versioning.rollback.journal import Interrupted, Transaction

__all__ = [
    "DataUnavailableError",
    "DirtyTreeError",
    "Interrupted",
    "LiveCodeError",
    "RollbackResult",
    "Transaction",
    "rollback",
    "status",
]
