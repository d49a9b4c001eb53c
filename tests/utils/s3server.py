"""A local S3-compatible server for tests: moto's server mode on 127.0.0.1, in this process.

``moto_server()`` starts one on a free port and yields its endpoint URL; ``s3_endpoint`` is one
server per test session (per xdist worker). Clients reach it through boto3's own settings, the
same ones a DVC remote on S3 reads: ``AWS_ENDPOINT_URL_S3`` (DVC's ``endpointurl``) and the
``AWS_*`` credentials (:func:`s3_env`); moto accepts any credentials unless a test asks it to check.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """A running moto server on 127.0.0.1; yields its endpoint URL, stops it on exit."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def s3_env(endpoint: str, key: str = "testing") -> dict[str, str]:
    """The environment a client needs for ``endpoint`` (no real AWS account or config file is read)."""
    return {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
