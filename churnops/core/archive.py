"""The prediction-log archive: where rotated log files go before retention deletes them.

An archive is a directory or an S3-compatible bucket prefix (``s3://bucket/prefix``). It holds
gzip-compressed log files under names made from their content (:func:`object_name`)::

    <first ts>_<host>_<log>_<sha256 of the raw bytes, 16 hex>.jsonl.gz
    20261207T193155.123456Z_web-1_predictions.jsonl_3f9c0a1b2c3d4e5f.jsonl.gz

so names sort by time, say which machine and which log they came from (replicas never
collide), and shipping the same file twice writes the same object: at-least-once shipping
never doubles a line. An object exists only once complete (S3: a PUT is atomic; a directory:
written under a temporary name, fsynced, renamed), so its presence is the confirmation.

S3 settings are the ones DVC uses (:func:`dvc_remote_settings`): when the project's DVC config
(``.dvc/config``, then ``.dvc/config.local``) has a remote on the same bucket, its ``endpointurl``,
``region`` and keys apply, as they do to ``dvc push``; otherwise boto3's own environment
(``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``...). Every failure is one :class:`ArchiveError` line naming the bucket and the cause.

Length: one concern, the archive: its object names and its two stores behind one protocol;
the S3 store's settings and its failures in words are the S3 store's own.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from churnops.core.errors import ArchiveError

SUFFIX = ".jsonl.gz"
NO_TS = "00000000T000000.000000Z"
"""The time part of a file whose first line has no readable ``ts`` (generated traffic): sorts first."""
NAME = re.compile(r"(?P<ts>\d{8}T\d{6}\.\d{6}Z)_(?P<host>[A-Za-z0-9.-]+)_(?P<log>[A-Za-z0-9.-]+)_(?P<sha>[0-9a-f]{16})")
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
S3_SCHEME = "s3://"
SHA_META = "sha256"
"""S3 user metadata: the full sha256 of the raw bytes, checked before an upload is skipped."""


def is_archive_url(spec: str) -> bool:
    return spec.startswith(S3_SCHEME)


def name_part(text: str) -> str:
    """``text`` made safe for one ``_``-separated part of a name (no ``_``, no ``/``)."""
    return _UNSAFE.sub("-", text).strip("-") or "unknown"


def compact_ts(ts: str | None) -> str:
    """``2026-12-07T19:31:55.123456Z`` -> ``20261207T193155.123456Z`` (file-name safe, sorts as time)."""
    if ts is None or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ts):
        return NO_TS
    return ts.replace("-", "").replace(":", "")


def object_name(first_ts: str | None, host: str, log: str, raw_sha256: str) -> str:
    return f"{compact_ts(first_ts)}_{name_part(host)}_{name_part(log)}_{raw_sha256[:16]}{SUFFIX}"


def default_host() -> str:
    return name_part(socket.gethostname())


@dataclass(frozen=True, slots=True)
class Stored:
    """One archived object: its name (the basename, which sorts by time) and where it is."""

    name: str
    location: str


class Archive(Protocol):
    url: str

    def has(self, name: str, raw_sha256: str) -> bool:
        """True when ``name`` is stored complete (its raw bytes had ``raw_sha256``)."""
        ...

    def put(self, name: str, gz: BinaryIO, raw_sha256: str) -> None:
        """Store ``gz`` (a seekable file at 0) under ``name`` and return only once it is confirmed."""
        ...

    def list(self) -> list[Stored]:
        """The archived log objects, sorted by name (oldest first)."""
        ...

    def open(self, item: Stored) -> IO[bytes]:
        """The object's compressed bytes, as a stream."""
        ...


_REMOTE_SECTION = re.compile(r"""'?remote\s+"(?P<name>[^"]+)"'?""")
_DVC_KEYS = {"endpointurl": "endpoint_url", "region": "region_name", "access_key_id": "aws_access_key_id",
             "secret_access_key": "aws_secret_access_key", "session_token": "aws_session_token"}  # fmt: skip


def dvc_remote_settings(bucket: str, start: Path | None = None) -> tuple[str | None, dict[str, str]]:
    """(remote name, boto3 client arguments) of the DVC remote on ``bucket``, else (None, {}).

    The project is the nearest directory above ``start`` (default: the working directory) with a
    ``.dvc`` folder; ``.dvc/config.local`` (where ``dvc remote modify --local`` keeps secrets)
    overrides ``.dvc/config``, as in DVC. A config that cannot be parsed gives nothing: DVC
    itself refuses it, with its own message.
    """
    import configparser

    here = (start or Path.cwd()).resolve()
    root = next((d for d in (here, *here.parents) if (d / ".dvc").is_dir()), None)
    if root is None:
        return None, {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read([root / ".dvc" / "config", root / ".dvc" / "config.local"], encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None, {}
    for section in parser.sections():
        m = _REMOTE_SECTION.fullmatch(section.strip())
        url = parser.get(section, "url", fallback="")
        if m and url.startswith(S3_SCHEME) and url[len(S3_SCHEME) :].split("/", 1)[0] == bucket:
            values = {
                arg: parser.get(section, key) for key, arg in _DVC_KEYS.items() if parser.has_option(section, key)
            }
            return m["name"], values
    return None, {}


def open_archive(spec: str | Path, project: Path | None = None) -> Archive:
    """The archive a destination names: ``s3://bucket[/prefix]`` or a directory path.

    ``project`` is where to look for the DVC config (default: the working directory).
    """
    text = str(spec)
    if is_archive_url(text):
        bucket, _, prefix = text[len(S3_SCHEME) :].partition("/")
        if not bucket:
            raise ArchiveError(f"{text}: no bucket in the URL (s3://bucket/prefix)")
        starts = ""
        if prefix.endswith("*"):  # s3://b/fleet/202611*: the objects whose names start with 202611
            prefix, _, starts = prefix[:-1].rpartition("/")
        if set("*?[") & set(prefix + starts):
            raise ArchiveError(f"{text}: only a trailing * is understood in an s3:// URL (s3://bucket/prefix/2026-11*)")
        return S3Archive(bucket, prefix.strip("/"), starts, project)
    return DirArchive(Path(text))


class DirArchive:
    """A directory (a mounted share, a local disk): one file per object, never partial."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def has(self, name: str, raw_sha256: str) -> bool:
        return (self.root / name).is_file()

    def put(self, name: str, gz: BinaryIO, raw_sha256: str) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                with open(tmp, "wb") as out:
                    while block := gz.read(1 << 20):
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.root / name)
            finally:
                tmp.unlink(missing_ok=True)
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)  # the rename itself survives a power cut
            finally:
                os.close(fd)
        except OSError as err:
            raise ArchiveError(f"{self.root}: cannot write the archive: {err.strerror or err}") from None

    def list(self) -> list[Stored]:
        try:
            found = [p for p in self.root.rglob(f"*{SUFFIX}") if NAME.match(p.name)]
        except OSError as err:
            raise ArchiveError(f"{self.root}: cannot list the archive: {err.strerror or err}") from None
        return sorted((Stored(p.name, str(p)) for p in found), key=lambda s: (s.name, s.location))

    def open(self, item: Stored) -> IO[bytes]:
        try:
            return open(item.location, "rb")
        except OSError as err:
            raise ArchiveError(f"{item.location}: cannot read: {err.strerror or err}") from None


class S3Archive:
    """A bucket prefix on S3 or an S3-compatible server (MinIO, Ceph, moto)."""

    def __init__(self, bucket: str, prefix: str, starts: str = "", project: Path | None = None) -> None:
        self.bucket = bucket
        self.project = project
        self.prefix = prefix
        self.starts = starts
        """Only objects whose names start with this are listed (a time range: ``202611``)."""
        self.url = f"{S3_SCHEME}{bucket}/{prefix}".rstrip("/")
        self.endpoint_from = "AWS_ENDPOINT_URL_S3"
        """Where the endpoint came from, for the error line that names it."""
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Few, short retries: a shipper runs again on its next round, and a person reading
            # the archive wants the one-line cause, not a minute of silent back-off.
            config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"})
            remote, settings = dvc_remote_settings(self.bucket, self.project)
            if remote is not None and "endpoint_url" in settings:
                self.endpoint_from = f"DVC remote {remote!r}'s endpointurl"
            self._client = boto3.session.Session().client("s3", config=config, **settings)
        return self._client

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def has(self, name: str, raw_sha256: str) -> bool:
        with self._errors():
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self.key(name))
            except Exception as err:
                if s3_error_code(err) in ("404", "NoSuchKey", "NotFound"):
                    self.client.head_bucket(Bucket=self.bucket)  # a missing bucket is an error, not "absent"
                    return False
                raise
        return bool(head.get("Metadata", {}).get(SHA_META) == raw_sha256)

    def put(self, name: str, gz: BinaryIO, raw_sha256: str) -> None:
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        while block := gz.read(1 << 20):
            md5.update(block)
            size += len(block)
        gz.seek(0)
        with self._errors():
            # One PUT (not multipart): its ETag is the md5 of the bytes, which HEAD then confirms.
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(name),
                Body=gz,
                ContentMD5=base64.b64encode(md5.digest()).decode(),
                ContentType="application/gzip",
                Metadata={SHA_META: raw_sha256},
            )
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        if head.get("ContentLength") != size or head.get("ETag", "").strip('"') != md5.hexdigest():
            raise ArchiveError(f"{self.url}/{name}: the stored object does not match what was sent (size or md5)")

    def list(self) -> list[Stored]:
        out: list[Stored] = []
        with self._errors():
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key(self.starts)
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    base = obj["Key"].rsplit("/", 1)[-1]
                    if base.endswith(SUFFIX) and NAME.match(base):
                        out.append(Stored(base, obj["Key"]))
        return sorted(out, key=lambda s: (s.name, s.location))

    def open(self, item: Stored) -> IO[bytes]:
        with self._errors():
            body: IO[bytes] = self.client.get_object(Bucket=self.bucket, Key=item.location)["Body"]
        return body

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except ArchiveError:
            raise
        except Exception as err:
            raise ArchiveError(f"{self.url}: {describe_s3_error(self.bucket, err, self.endpoint_from)}") from None


# S3's error codes (a HEAD request's error has no body: its code is the bare status, "403"), shared
# with the DVC remote's failures (churnops/versioning/remote.py).
S3_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "403", "Forbidden"}
)
S3_MISSING = frozenset({"NoSuchBucket"})


def s3_error_code(err: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError`` (``NoSuchBucket``, ``403``...), else ``None``."""
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None


def describe_s3_error(bucket: str, err: BaseException, endpoint_from: str = "AWS_ENDPOINT_URL_S3") -> str:
    """The cause of an S3 failure, in words a person acts on."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    code = s3_error_code(err)
    if code in S3_MISSING or (code in ("404", "NotFound") and "HeadBucket" in str(err)):
        return f"bucket {bucket} does not exist"
    if code in S3_DENIED:
        return f"access denied to bucket {bucket} ({code}; check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
    if isinstance(err, NoCredentialsError):
        return f"no credentials for bucket {bucket} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(err, EndpointConnectionError):
        url = urlsplit(str(getattr(err, "kwargs", {}).get("endpoint_url", "")))
        return f"endpoint unreachable for bucket {bucket}: {url.scheme}://{url.netloc} ({endpoint_from})"
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return f"bucket {bucket}: {text}"
