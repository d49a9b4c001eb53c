"""``churnops serve``'s flags: their defaults are the service settings' own."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from churnops.commands import serve
from churnops.service.settings import Settings


def _defaults() -> dict[str, object]:
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return {a.dest: a.default for a in parser._actions if a.dest in Settings.model_fields}


def test_every_flag_that_sets_a_setting_defaults_to_the_settings_default() -> None:
    shared = _defaults()
    assert {"workers", "log_path", "max_log_bytes", "log_backups", "log_queue_lines", "registry_ref",
            "max_body_bytes"} <= set(shared)  # fmt: skip
    for name, default in shared.items():
        expected = Settings.model_fields[name].default
        assert (Path(default) if isinstance(expected, Path) else default) == expected, name


@pytest.mark.parametrize("name, value", [("log_backups", 9), ("max_body_bytes", 8192), ("workers", 3)])
def test_a_changed_settings_default_changes_the_flag(monkeypatch: pytest.MonkeyPatch, name: str, value: int) -> None:
    """The flag reads the default from Settings when the parser is built: no second copy to update."""
    monkeypatch.setattr(Settings.model_fields[name], "default", value)
    assert _defaults()[name] == value
