"""A local S3-compatible server for tests: moto's server mode on 127.0.0.1, as DVC's own S3 tests use.

moto keeps its buckets in the memory of the process that runs it (here, the test worker), so
every test names its own bucket. Its answers to the fake credentials the tests set are those of
a real S3 for a user allowed everything, until :func:`enforced_auth` makes it check them.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's S3 server on a free 127.0.0.1 port; yield its endpoint URL; stop it at exit."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def isolated(home: Path) -> dict[str, str]:
    """Environment that keeps an S3 client off the machine's own AWS settings.

    ``home`` holds empty AWS config files, so a developer's ``~/.aws`` cannot leak in; the
    instance-metadata lookup (a timeout off EC2) is off.
    """
    home.mkdir(parents=True, exist_ok=True)
    for name in ("config", "credentials"):
        (home / name).touch()
    return {
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def credentials(home: Path, key: str = "testing", secret: str = "testing") -> dict[str, str]:
    """The environment an S3 client reads fake credentials from, and nothing else of the machine's."""
    return {**isolated(home), "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION}


def client(endpoint: str) -> Any:
    """A boto3 S3 client on ``endpoint`` with the tests' fake credentials (for setting up and looking)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )


def make_bucket(endpoint: str, name: str) -> None:
    """Create the bucket ``name``, or empty it if it exists (a test that names a fixed bucket starts clean)."""
    s3 = client(endpoint)
    if name in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        for key in keys(endpoint, name):
            s3.delete_object(Bucket=name, Key=key)
        return
    s3.create_bucket(Bucket=name)


def keys(endpoint: str, bucket: str) -> list[str]:
    """Every object key in ``bucket``, sorted."""
    pages = client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def _moto_api(endpoint: str, path: str, body: bytes) -> None:
    # text/plain: a form content type would have the body parsed away before moto reads it
    headers = {"Content-Type": "text/plain"}
    req = urllib.request.Request(f"{endpoint}/moto-api/{path}", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


@contextmanager
def enforced_auth(endpoint: str) -> Iterator[None]:
    """moto checks credentials while inside: unknown keys get S3's 403 (InvalidAccessKeyId).

    The switch is moto-wide in the process that runs the server; a test worker runs one test at
    a time, and the switch is turned back at exit.
    """
    _moto_api(endpoint, "reset-auth", b"0")
    try:
        yield
    finally:
        _moto_api(endpoint, "reset-auth", b"inf")
