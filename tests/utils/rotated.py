"""A prediction log with real rotations (the service's own LogFile), and what the archive holds."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson

from churnops.core.logformat import RowEntry, encode
from churnops.service.logwriter import LogFile
from tests.utils.factories import GOOD_CUSTOMER

T0 = 1_780_000_000.0
PLANS = ("basic", "standard", "premium")


def lines(n: int, start: int = 0, seed: int = 7, customers: int = 300) -> list[bytes]:
    """``n`` prediction lines, one second apart from ``start``, naming one of ``customers`` customers."""
    rng = random.Random(seed + start)
    out = []
    for i in range(start, start + n):
        features = {**GOOD_CUSTOMER, "tenure_months": rng.randint(1, 72), "plan": rng.choice(PLANS),
                    "avg_session_minutes": round(rng.uniform(1, 60), 2)}  # fmt: skip
        p = rng.random()
        out.append(encode(RowEntry(T0 + i, f"r-{i}", "v1", features, p, p >= 0.5, 0.2, f"c{rng.randrange(customers)}")))
    return out


def write_rotated(log: Path, data: list[bytes], max_bytes: int = 8192) -> None:
    """Append ``data`` one line at a time through the service's writer: it rotates, keeping every file."""
    sink = LogFile(log, max_bytes=max_bytes, backups=0)
    try:
        for line in data:
            sink.append(line)
    finally:
        sink.close()


def keys(data: bytes) -> list[tuple[str, int | None]]:
    """(request_id, item) of each line: what identifies a logged row."""
    return [(d["request_id"], d.get("item")) for d in map(orjson.loads, data.splitlines()) if d]


def archived_dir(root: Path) -> dict[str, bytes]:
    return {p.name: gzip.decompress(p.read_bytes()) for p in sorted(root.rglob("*.jsonl.gz"))}


def archived_s3(client: object, bucket: str, prefix: str = "") -> dict[str, bytes]:
    out = {}
    for obj in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):  # type: ignore[attr-defined]
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()  # type: ignore[attr-defined]
        out[obj["Key"].rsplit("/", 1)[-1]] = gzip.decompress(body)
    return out
