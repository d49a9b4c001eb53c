"""Log specs resolved to one stream: live files, rotations, archives, each line once."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnops.core.archive import DirArchive, open_archive
from churnops.core.errors import InputError
from churnops.core.logformat import log_files
from churnops.core.logsource import log_streams, resolve
from churnops.service.shipper import ship
from tests.utils.rotated import keys, lines, write_rotated


def read(specs: list[str]) -> bytes:
    return b"".join(fh.read() for fh in log_streams(specs))


def test_archive_and_live_files_read_as_one_log_each_line_once(tmp_path: Path) -> None:
    log, dest = tmp_path / "p.jsonl", tmp_path / "archive"
    data = lines(300)
    write_rotated(log, data)
    ship(log, DirArchive(dest), keep=2, host="web-1")  # the 2 newest rotated files are in both places
    assert len(log_files(log)) == 3
    assert keys(read([str(dest), str(log)])) == keys(b"".join(data))
    assert keys(read([str(dest / "*.jsonl.gz"), str(log), str(log)])) == keys(b"".join(data))
    # Only the archive: what it holds, oldest first.
    archived = keys(read([str(dest)]))
    assert archived == keys(b"".join(data))[: len(archived)]


def test_a_directory_without_archived_files_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    with pytest.raises(InputError, match=r"logs: cannot read the log: a directory with no archived log files"):
        resolve([str(tmp_path / "logs")])


def test_an_s3_prefix_and_a_time_range_of_it(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    bucket = s3_bucket
    log = tmp_path / "p.jsonl"
    data = lines(200)
    write_rotated(log, data)
    report = ship(log, open_archive(f"s3://{bucket}/fleet"), keep=1)
    assert keys(read([f"s3://{bucket}/fleet", str(log)])) == keys(b"".join(data))
    first = sorted(report.shipped)[0]
    one = resolve([f"s3://{bucket}/fleet/{first[:19]}*"])  # down to the second: only the first object
    assert [seg.label.rsplit("/", 1)[-1] for s in one for seg in s.segments] == [first]
    with pytest.raises(InputError, match="does not exist"):
        resolve([f"s3://{bucket}-missing/fleet"])
