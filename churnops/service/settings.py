"""The service's one typed configuration.

``churnops serve`` turns its flags into ``CHURNOPS_*`` environment variables, because uvicorn's
workers are spawned fresh and import the app by name: the environment is what they inherit.
Each builds the same frozen :class:`Settings`, refusing a bad value at start-up by its name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from churnops.core.errors import ParamsError
from churnops.service.logwriter import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, DEFAULT_QUEUE_LINES

ENV_PREFIX = "CHURNOPS_"
ADMIN_TOKEN_ENV = "CHURNOPS_ADMIN_TOKEN"

_NOT_IN_REFS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|//|/\.|@\{|^[-/.]|[/.]$|\.lock$")
"""What ``git check-ref-format`` refuses in a ref name, and a leading ``-`` (git would read an option)."""


def _ref_name(value: str) -> str:
    if _NOT_IN_REFS.search(value):
        raise ValueError("not a Git ref name (a branch such as churnops/registry or origin/churnops/registry)")
    return value


RefName = Annotated[str, AfterValidator(_ref_name)]


def _archive(value: str) -> str:
    from churnops.core.archive import open_archive
    from churnops.core.errors import ArchiveError

    try:
        open_archive(value)  # only parses the destination: a worker must not find a bad URL at start-up
    except ArchiveError as err:
        raise ValueError(str(err)) from None
    return value


ArchiveDest = Annotated[str, AfterValidator(_archive)]


class Settings(BaseSettings):
    """Everything a worker needs to know; unset fields come from ``CHURNOPS_<FIELD>`` (empty is unset)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid")

    repo: Path = Path(".")
    """The project's Git work tree: its registry names the model, its DVC cache or remote holds it."""
    registry_ref: RefName | None = None
    """Unset: the local ``churnops/registry`` branch, else the single remote-tracking one."""
    log_path: Path = Path("logs/predictions.jsonl")
    max_log_bytes: Annotated[int, Field(ge=0)] = DEFAULT_MAX_BYTES
    """0 disables rotation."""
    log_backups: Annotated[int, Field(ge=0)] = DEFAULT_BACKUPS
    """0 keeps them all: then nothing bounds the log's disk use."""
    log_archive: ArchiveDest | None = None
    """A directory or ``s3://bucket/prefix``: each worker ships rotated files there, and a rotated
    file is deleted (beyond ``log_backups``) only once archived (:mod:`churnops.service.shipper`)."""
    log_archive_interval: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """Seconds between two shipping passes of a worker."""
    log_queue_lines: Annotated[int, Field(ge=1)] = DEFAULT_QUEUE_LINES
    """Beyond, new lines are dropped and counted (``dropped_lines`` on ``/health``); requests are answered."""
    admin_token: str | None = None
    """Bearer token for ``POST /admin/reload``; unset disables the endpoint (404)."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 4 * 1024 * 1024
    """Request bodies above this are refused with 413 (a full 10,000-row batch is ~1.1 MB)."""
    run_dir: Path | None = None
    """Where each worker of one ``churnops serve`` reports its model version, so a reload can wait
    until all ``workers`` serve the new model."""
    workers: Annotated[int, Field(ge=1)] = 1
    supervisor_pid: int | None = None
    """PID of the ``churnops serve`` supervisor; a worker SIGHUPs it to reload its siblings."""
    reload_wait_seconds: Annotated[float, Field(ge=0, le=120)] = 10.0

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from the environment; ParamsError names each variable holding a bad value."""
        try:
            return cls()
        except ValidationError as err:
            msgs = [
                f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']} (got {e.get('input')!r})" for e in err.errors()
            ]
            raise ParamsError("; ".join(msgs)) from None

    def to_env(self) -> dict[str, str]:
        """The environment variables that make :meth:`from_env` rebuild these settings."""
        return {
            ENV_PREFIX + name.upper(): "" if value is None else str(value) for name, value in self.model_dump().items()
        }
