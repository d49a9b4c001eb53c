"""The archive takes an S3 bucket's settings from the project's DVC remote on that bucket, as `dvc push` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.cli import main
from churnops.commands.common import OK
from churnops.core.archive import dvc_remote_settings, open_archive
from tests.utils.project import run
from tests.utils.rotated import lines, write_rotated
from tests.utils.s3server import isolated


def dvc_project(root: Path, bucket: str, endpoint: str) -> Path:
    """A DVC project with its remote `storage` on ``bucket`` at ``endpoint``, keys kept `--local` as the docs say."""
    root.mkdir()
    run(["dvc", "init", "--no-scm", "-q"], root)
    run(["dvc", "remote", "add", "-d", "storage", f"s3://{bucket}/dvc"], root)
    run(["dvc", "remote", "modify", "storage", "endpointurl", endpoint], root)
    run(["dvc", "remote", "modify", "--local", "storage", "access_key_id", "testing"], root)
    run(["dvc", "remote", "modify", "--local", "storage", "secret_access_key", "testing"], root)
    run(["dvc", "remote", "add", "other", "s3://another-bucket/x"], root)
    return root


def test_the_dvc_remote_on_the_same_bucket_gives_endpoint_and_keys(tmp_path: Path) -> None:
    root = dvc_project(tmp_path / "p", "logs-bucket", "http://127.0.0.1:9")
    (root / "sub").mkdir()
    assert dvc_remote_settings("logs-bucket", root / "sub") == (
        "storage",
        {"endpoint_url": "http://127.0.0.1:9", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    )
    assert dvc_remote_settings("another-bucket", root) == ("other", {})
    assert dvc_remote_settings("no-such-bucket", root) == (None, {})
    assert dvc_remote_settings("logs-bucket", tmp_path) == (None, {})  # no project around it


def test_ship_and_read_with_only_the_dvc_remotes_settings(
    tmp_path: Path,
    s3_endpoint: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No AWS variable at all: the endpoint and the keys come from the DVC config alone."""
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in isolated(tmp_path / "aws").items():
        monkeypatch.setenv(key, value)
    root = dvc_project(tmp_path / "p", s3_bucket, s3_endpoint)
    monkeypatch.chdir(root)
    write_rotated(root / "p.jsonl", lines(60))
    assert main(["logs", "ship", "--log", "p.jsonl", "--to", f"s3://{s3_bucket}/logs"]) == OK, capsys.readouterr().err
    assert len(open_archive(f"s3://{s3_bucket}/logs").list()) >= 1


def test_an_unreachable_endpoint_from_the_dvc_config_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in isolated(tmp_path / "aws").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    root = dvc_project(tmp_path / "p", "logs-bucket", "http://127.0.0.1:9")
    monkeypatch.chdir(root)
    from churnops.core.errors import ArchiveError

    with pytest.raises(ArchiveError) as err:
        open_archive("s3://logs-bucket/logs").list()
    assert str(err.value) == (
        "s3://logs-bucket/logs: endpoint unreachable for bucket logs-bucket: http://127.0.0.1:9 "
        "(DVC remote 'storage''s endpointurl)"
    )
