"""The one exception hierarchy of churnops.

Every error that a user can cause or fix derives from :class:`ChurnopsError`, and every
such class is defined here. Only the edges translate them: the CLI into one line on stderr
and an exit code (``churnops.commands.common.exit_code``), the stage scripts likewise
(``churnops.core.stage``), the HTTP layer into status codes. The classes carry no exit
codes and their messages name no CLI flag: the edge that knows the flags adds them.

    ChurnopsError
     ├── ParamsError           params.yaml (or a command-line value) is missing, malformed or out of range
     ├── DataError             an input data file is missing, unreadable or violates its contract
     │    └── InputError       an input exists but cannot be used (the monitor's log or statistics)
     ├── GateError             a trained model scored below train.gate_f1
     ├── ModelIntegrityError   a model's bytes do not match its md5 (the one DVC keys it by)
     ├── LockfileError         dvc.lock is missing, unreadable or records no model
     ├── GitError              a git command failed, or the directory is not a Git work tree
     ├── RegistryError         the model registry cannot be read or changed as asked
     │    └── PromotionRefusedError  the committed verdict does not recommend the candidate (or is stale)
     ├── ModelUnavailableError a model object is in neither the DVC cache nor the default remote
     ├── RepositoryBusyError   another churnops command holds the repository lock
     ├── RemoteError           a DVC remote is unreachable, refuses access, or is not a directory
     ├── ArchiveError          the prediction-log archive (a directory or a bucket) cannot be written or read
     ├── SnapshotError         a feedback snapshot could not be written or added to DVC (the old one is kept)
     ├── ServiceError          a running service answered an error or an unexpected body
     │    └── UnreachableError a service does not answer at the URL at all
     ├── ServiceReloadError    a running service did not reload the model it was asked to
     └── AssetError            the offline plots page does not hold the pinned library bytes

Exceptions that never leave their layer are not user errors and stay there: the service's
``InvalidRequest`` / ``BodyTooLarge`` (become HTTP answers), the monitor's ``LogReadError``
(an ``OSError`` that becomes an :class:`InputError`).
"""

from __future__ import annotations


class ChurnopsError(Exception):
    """Base of every expected, user-actionable churnops error."""


class ParamsError(ChurnopsError):
    """params.yaml or a command-line value is invalid; the message names the dotted key."""


class DataError(ChurnopsError):
    """An input data file is missing, unreadable or violates its contract."""


class InputError(DataError):
    """An input exists but cannot be used: to a CLI caller a bad argument, not a finding such as drift."""


class GateError(ChurnopsError):
    """The trained model is below the quality gate; no model was written."""


class ModelIntegrityError(ChurnopsError):
    """A model's bytes do not match the md5 it is named by."""


class LockfileError(ChurnopsError):
    """dvc.lock is missing, unreadable, or does not record the expected output."""


class GitError(ChurnopsError):
    """A git command failed, or the directory is not inside a Git work tree."""


class RegistryError(ChurnopsError):
    """The model registry is unreadable, or cannot be changed as asked; nothing was changed."""


class PromotionRefusedError(RegistryError):
    """The committed verdict does not recommend the candidate, or judged it against a former prod."""


class ModelUnavailableError(ChurnopsError):
    """A model object is in neither the DVC cache nor the default DVC remote."""


class RepositoryBusyError(ChurnopsError):
    """Another churnops command holds the repository's workspace lock; nothing was changed."""


class RemoteError(ChurnopsError):
    """A DVC remote could not be read (unreachable, refused, missing, not a directory)."""


class ArchiveError(ChurnopsError):
    """The log archive refused or could not be reached (missing bucket, access denied, endpoint down)."""


class SnapshotError(ChurnopsError):
    """A feedback snapshot could not be written or ``dvc add``-ed; the previous one and its ``.dvc`` file are kept."""


class ServiceError(ChurnopsError):
    """A running service answered with an error status or an unexpected body."""


class UnreachableError(ServiceError):
    """No service answers at the URL (wrong URL, or not started)."""


class ServiceReloadError(ChurnopsError):
    """A running service could not be told to reload, or serves another model afterwards."""


class AssetError(ChurnopsError):
    """The plots page does not hold the pinned library bytes, or a download did not verify."""
