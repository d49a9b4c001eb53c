"""Generated request ids: valid UUID4s, unique, and not repeated across a fork."""

from __future__ import annotations

import os
import uuid

from churnops.service.middleware import request_id_from, uuid4


def test_generated_ids_are_unique_version_4_uuids_across_pool_refills() -> None:
    ids = [uuid4() for _ in range(2000)]  # several refills of the 256-id pool
    assert len(set(ids)) == len(ids)
    for text in ids[:300]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    uuid4()  # the parent's pool now holds 255 unused ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        os.write(write, uuid4().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child and child != uuid4()


def test_sane_client_ids_are_kept_and_others_replaced() -> None:
    assert request_id_from(b"order-42:retry.1") == "order-42:retry.1"
    for bad in (None, b"", b"has space", b"x" * 129, b"\xff\xfe"):
        assert uuid.UUID(request_id_from(bad)).version == 4
