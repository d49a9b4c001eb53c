"""The one exception hierarchy of churnops.

Every error that a user can cause or fix derives from :class:`ChurnopsError`.
Only the edges translate them: the CLIs and stage scripts into one line on stderr
and an exit code, the HTTP layer into status codes.

    ChurnopsError
     ├── ParamsError          params.yaml (or a CLI override) is missing, malformed or out of range
     ├── DataError            an input data file is missing, unreadable or violates its contract
     ├── GateError            a trained model scored below train.gate_f1
     ├── ModelIntegrityError  a model file does not match the hash that dvc.lock records
     ├── LockfileError        dvc.lock is missing, unreadable or records no model
     ├── GitError             a git command failed, or the directory is not a Git work tree
     ├── RollbackError        a rollback cannot be carried out safely
     ├── RepositoryBusyError  another churnops command holds the repository lock (exit 75)
     ├── RemoteError          a DVC remote is unreachable, refuses access, or is not a directory
     └── ServiceReloadError   a running service did not reload the model it was asked to
"""

from __future__ import annotations


class ChurnopsError(Exception):
    """Base of every expected, user-actionable churnops error.

    ``exit_code`` is what a CLI exits with when this error reaches it.
    """

    exit_code: int = 1


class ParamsError(ChurnopsError):
    """params.yaml or a command-line value is invalid; the message names the dotted key."""

    exit_code = 2


class DataError(ChurnopsError):
    """An input data file is missing, unreadable or violates its contract."""


class GateError(ChurnopsError):
    """The trained model is below the quality gate; no model was written."""


class ModelIntegrityError(ChurnopsError):
    """A model file's bytes do not match the md5 that dvc.lock records."""


class LockfileError(ChurnopsError):
    """dvc.lock is missing, unreadable, or does not record the expected output."""


class GitError(ChurnopsError):
    """A git command failed, or the directory is not inside a Git work tree."""


class RollbackError(ChurnopsError):
    """A rollback was refused or could not complete; nothing was changed."""


class RepositoryBusyError(ChurnopsError):
    """Another churnops command holds the repository's workspace lock; nothing was changed."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class RemoteError(ChurnopsError):
    """A DVC remote could not be read (unreachable, refused, missing, not a directory)."""


class ServiceReloadError(ChurnopsError):
    """A running service could not be told to reload, or serves another model afterwards."""
