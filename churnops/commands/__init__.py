"""Subcommands of the ``churnops`` CLI, one module each (see :mod:`churnops.cli`)."""
