"""The streaming label join equals the join that held the whole log (tests/utils/labeljoin_reference.py).

Random logs mix the lines the join reads unparsed (the writers' own) with every line that must
be parsed or ignored: escapes, repeated keys, torn and binary lines, rejections, records
without ts or features. Tiny blocks put line ends everywhere a read may cut.
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson
import pandas as pd
import pytest

from churnops.core.logformat import (
    BatchEntry,
    RejectedValue,
    RejectionEntry,
    RowEntry,
    encode,
    rfc3339,
    rotated_path,
)
from churnops.pipeline import labeljoin as fb
from churnops.pipeline import labelscan
from tests.utils import labeljoin_reference as ref
from tests.utils.factories import GOOD_CUSTOMER

T0 = 1_790_000_000.0
IDS = [f"c{i}" for i in range(12)]


class HalfScorer:
    threshold = 0.5

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.array([0.25 + 0.5 * (r["tenure_months"] < 5) for r in records])


def stamp(rng: random.Random) -> float:
    return T0 + 60 * rng.randrange(8)  # few stamps: ties between lines are common


def features(rng: random.Random) -> dict[str, Any]:
    return {**GOOD_CUSTOMER, "tenure_months": rng.randrange(10)}


def good_line(rng: random.Random) -> bytes:
    """A line as the service or ``generate`` writes it."""
    p = rng.random()
    cid = rng.choice(IDS)
    kind = rng.randrange(4)
    if kind == 0:
        return encode(RowEntry(stamp(rng), "r", rng.choice(["v1", "v2"]), features(rng), p, p >= 0.5, 1.0, cid))
    if kind == 1:
        ids = [rng.choice([*IDS, None]) for _ in range(3)]
        probs = [rng.random() for _ in ids]
        rows = [features(rng) for _ in ids]
        entry = BatchEntry(stamp(rng), "b", "v1", rows, probs, [x >= 0.5 for x in probs], 1, ids)
        return encode(entry)
    if kind == 2:  # generated traffic: no ts, no decision
        return orjson.dumps({"request_id": cid, "customer_id": cid, "source": "simulated", "features": features(rng),
                             "churn_probability": round(p, 6)}) + b"\n"  # fmt: skip
    return encode(RowEntry(stamp(rng), "n", "v1", features(rng), p, p >= 0.5, 1.0))  # no customer_id


def odd_line(rng: random.Random) -> bytes:
    """A line the join must parse to judge, or ignore."""
    line = encode(RowEntry(stamp(rng), "o", "v2", features(rng), rng.random(), rng.random() < 0.5, 1.0,
                           rng.choice(IDS)))  # fmt: skip
    other, later = rng.choice(IDS).encode(), rfc3339(stamp(rng) + 30).encode()
    cut = rng.randrange(1, len(line) - 1)
    options = [
        line.replace(b'"customer_id"', b'"customer\\u005fid"'),  # escaped key
        line.replace(b'"customer_id":', b'"customer_id" : '),  # JSON whitespace
        line.replace(b',"latency_ms"', b',"customer_id":"' + other + b'","latency_ms"'),  # repeated key: last wins
        line.replace(b',"latency_ms"', b',"ts":"' + later + b'","latency_ms"'),  # repeated ts
        line.replace(b',"latency_ms"', b',"kind":"rejected","latency_ms"'),  # not a prediction
        line.replace(b'"features":{', b'"features":null,"x":{'),  # no features
        re.sub(rb'"features":\{[^}]*\},', b"", line),  # no features key at all
        line.replace(b'"ts":"', b'"ts":7,"y":"'),  # ts not a string
        line.replace(b'"plan":"basic"', b'"plan":"ts"'),  # "ts" as a value
        line.replace(b'"region":"', b'"region":"\xc3\xa9'),  # not ASCII
        line.replace(b'"region":"', b'"region":"\xff'),  # not UTF-8
        line.replace(b'"features":{', b'"features":{"customer_id":"' + other + b'",'),  # a key inside features
        line.replace(b'"ts":"', b'"ts":"~'),  # a stamp of another form: compared as a string
        line.replace(b',"latency_ms":1.0', b',"latency_ms":1e400'),  # msgspec skips it, orjson refuses it
        line.replace(b'"num_complaints":0', b'"num_complaints":18446744073709551617'),  # orjson: a float
        line.replace(b',"latency_ms"', b',"note":1,"latency_ms"'),  # a key no writer writes
        line.replace(b',"latency_ms"', b',"note":' + b"[" * 2000 + b"]" * 2000 + b',"latency_ms"'),  # too deep
        line[:cut] + b"\n",  # torn
        line[:cut] + good_line(rng),  # torn, then a whole line after it
        b"\n",
        b"not json\n",
        b"\x00\xff\n",
        encode(RejectionEntry(stamp(rng), "r", "/predict", [RejectedValue("plan", None, "missing", None, "plan")], 1)),
    ]
    return rng.choice(options)


def write_logs(tmp: Path, rng: random.Random) -> list[Path]:
    """One to three logs, each with up to two rotated files; files may end without a newline."""
    logs = []
    for k in range(rng.randrange(1, 4)):
        live = tmp / f"p{k}.jsonl"
        for n in range(rng.randrange(3)):
            lines = [good_line(rng) if rng.random() < 0.7 else odd_line(rng) for _ in range(rng.randrange(40))]
            data = b"".join(lines)
            path = live if n == 0 else rotated_path(live, n)
            path.write_bytes(data.rstrip(b"\n") if rng.random() < 0.3 else data)
        if not live.exists():
            live.write_bytes(b"")
        logs.append(live)
    return logs


def labels(rng: random.Random) -> list[fb.Label]:
    out = []
    for _ in range(rng.randrange(25)):
        observed = None if rng.random() < 0.3 else rfc3339(stamp(rng) + rng.choice([-90, -60, 0, 30]))
        out.append(fb.Label(rng.choice([*IDS, "nobody"]), rng.randrange(2), observed))
    return out + out[: rng.randrange(3)]  # some labels twice


def check(labels_: list[fb.Label], logs: list[Path]) -> None:
    frame, unmatched = fb.join(labels_, fb.log_source(logs), HalfScorer(), "champion")  # type: ignore[arg-type]
    by_id = ref.read_log(fb.log_lines(logs))
    want, n_unmatched = ref.join(labels_, by_id, HalfScorer(), "champion")  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(frame, want)
    reasons, oldest = ref.unmatched(labels_, by_id)
    assert (unmatched.total, unmatched.reasons, unmatched.oldest_ts) == (n_unmatched, reasons, oldest)
    rep, want_rep = (fb.report(f, unmatched, fb.Counter(), 0.7, 1) for f in (frame, want))
    assert rep == want_rep
    # The command's path: the report's columns without the frame, with and without a scorer.
    rows, unmatched_too = fb.decisions(labels_, fb.log_source(logs), HalfScorer(), "champion")  # type: ignore[arg-type]
    for name, column in rows.items():
        np.testing.assert_array_equal(column, frame[name].to_numpy(dtype=column.dtype), err_msg=name)
    assert fb.report(rows, unmatched_too, fb.Counter(), 0.7, 1) == rep
    plain = fb.join(labels_, fb.log_source(logs))
    assert fb.report(*fb.decisions(labels_, fb.log_source(logs)), fb.Counter(), 0.7, 1) == fb.report(
        *plain, fb.Counter(), 0.7, 1
    )


@pytest.mark.parametrize("block", [16, 200, 1 << 22])
def test_the_stream_equals_the_whole_log_join_on_random_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(labelscan, "BLOCK_BYTES", block)
    for case in range(80):
        rng = random.Random(case * 7 + block)
        folder = tmp_path / str(case)
        folder.mkdir()
        check(labels(rng), write_logs(folder, rng))


@pytest.mark.parametrize(
    ("newest", "reads"),
    [
        (b',"latency_ms":1e400}', 3),  # msgspec's first read takes it; orjson refuses it when it is parsed
        (b',"latency_ms":1.0,"ts":"later"}', 2),  # a stamp of another form: the first read stops
        (b',"latency_ms":1.0}', 2),  # the writers' line: the first read, then its lines taken again
    ],
)
def test_a_log_the_fast_scan_cannot_vouch_for_is_read_by_the_exact_scan(
    tmp_path: Path, newest: bytes, reads: int
) -> None:
    good = encode(RowEntry(T0, "a", "v1", GOOD_CUSTOMER, 0.9, True, 1.0, "c1"))
    odd = encode(RowEntry(T0 + 60, "b", "v2", GOOD_CUSTOMER, 0.1, False, 1.0, "c1")).replace(
        b',"latency_ms":1.0}', newest
    )
    log = tmp_path / "p.jsonl"
    log.write_bytes(good + odd)
    opened: list[int] = []

    def source() -> Iterator[BinaryIO]:
        opened.append(1)
        return fb.log_streams([log])

    frame, unmatched = fb.join([fb.Label("c1", 1, None)], source)
    want = ["v1"] if b"1e400" in newest else ["v2"]
    assert frame["model_version"].tolist() == want and unmatched.total == 0
    assert len(opened) == reads


def test_customer_ids_that_share_a_hash_change_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every unlabeled id files under a labeled one: their lines may win there, and settle() must catch it."""
    for case in range(40):
        rng = random.Random(case)
        labels_ = labels(rng)
        labeled = sorted({label.customer_id for label in labels_})

        def collide(cid: str, labeled: list[str] = labeled) -> int:
            return labeled.index(cid) if cid in labeled else 0  # the first labeled id's hash

        monkeypatch.setattr(labelscan, "_hash", collide)
        folder = tmp_path / str(case)
        folder.mkdir()
        check(labels_, write_logs(folder, rng))


def test_a_log_as_the_service_writes_it_is_read_by_the_fast_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(3)
    log = tmp_path / "p.jsonl"
    log.write_bytes(b"".join(good_line(rng) for _ in range(400)))
    labels_ = [fb.Label(c, 1, rfc3339(T0 + 240) if k % 2 else None) for k, c in enumerate(IDS)]
    monkeypatch.setattr(labelscan, "BLOCK_BYTES", 4096)
    exact = fb.join(labels_, fb.log_source([log]))
    monkeypatch.setattr(labelscan.Scan, "__init__", lambda *_: pytest.fail("read by the exact scan"))
    fast = fb.join(labels_, fb.log_source([log]))
    pd.testing.assert_frame_equal(fast[0], exact[0])
    assert fast[1] == exact[1]


def test_stamp_keys_order_as_the_stamps_compare() -> None:
    rng = random.Random(0)
    stamps = [rfc3339(rng.uniform(0, 2**33)) for _ in range(2_000)] + ["", "1970-01-01T00:00:00.000000Z"]
    stamps += ["2891-12-31T23:59:59.999999Z", "2026-99-99T99:99:99.999999Z"]  # the form, not a time
    keys = labelscan.stamp_keys(stamps)
    assert keys is not None
    assert sorted(range(len(stamps)), key=stamps.__getitem__) == sorted(
        range(len(stamps)), key=keys.tolist().__getitem__
    )
    assert [labelscan.stamp_key(s) for s in stamps] == keys.tolist()
    assert keys[stamps.index("")] == labelscan.UNSTAMPED
    for other in ["2026-09-21T14:13:20Z", "2026-09-21T14:13:20.000000Z\x00", "2026-09-21T14:13:20.000000+00:00",
                  "1969-12-31T23:59:59.999999Z", "2892-01-01T00:00:00.000000Z", "2026-09-21T14:13:2x.000000Z",
                  "２026-09-21T14:13:20.000000Z", "2026-09-21 14:13:20.000000Z"]:  # fmt: skip
        assert labelscan.stamp_keys([stamps[0], other]) is None, other
        assert labelscan.stamp_key(other) is None, other


def test_streams_not_files_and_the_unmatched_reasons() -> None:
    """The join reads any byte streams (archives, buckets): here two in memory, oldest first."""
    old = encode(RowEntry(T0, "a", "v1", GOOD_CUSTOMER, 0.9, True, 1.0, "c1"))
    new = encode(RowEntry(T0 + 600, "b", "v2", GOOD_CUSTOMER, 0.2, False, 1.0, "c2"))
    streams = lambda: [io.BytesIO(old), io.BytesIO(new)]  # noqa: E731
    got = [
        fb.Label("c1", 1, rfc3339(T0 + 1)),  # matched
        fb.Label("c1", 0, rfc3339(T0 - 1)),  # before the oldest line
        fb.Label("c2", 0, rfc3339(T0 + 60)),  # c2's only prediction is later
        fb.Label("c3", 1, None),  # never predicted
    ]
    frame, unmatched = fb.join(got, streams)
    assert frame["customer_id"].tolist() == ["c1"]
    assert unmatched.reasons == {fb.UNMATCHED_OLDER: 1, fb.UNMATCHED_LATER: 1, fb.UNMATCHED_NONE: 1}
    assert unmatched.oldest_ts == rfc3339(T0)
    rep = fb.report(frame, unmatched, fb.Counter(), 0.7, 1)
    assert fb.unmatched_reasons(rep) == (
        f" (older than the oldest log line, {rfc3339(T0)}: 1; only predictions after observed_at: 1; "
        "no prediction for the customer: 1)"
    )


def test_a_normal_observed_at_is_kept_as_it_is_only_where_the_round_trip_gives_it_back() -> None:
    rng = random.Random(0)
    for _ in range(20_000):
        ts = rng.uniform(0, 2**31) + rng.randrange(1_000_000) / 1e6
        stamp = rfc3339(ts)
        assert fb._observed_at(stamp) == (True, rfc3339(datetime.fromisoformat(stamp).timestamp()))
    assert fb._observed_at("2026-13-01T00:00:00.000000Z") == (False, None)
    assert fb._observed_at("2040-01-01T00:00:00.000001Z") == (True, "2040-01-01T00:00:00.000001Z")


def _dict_reader_labels(text: str) -> fb.Labels:
    """Labels read the general way, csv.DictReader: what a plain CSV's split must give."""
    out = fb.Labels([])
    for row in csv.DictReader(io.StringIO(text)):
        if (label := fb._label(row, out.skipped)) is not None:
            out.labels.append(label)
    return out


@pytest.mark.parametrize(("seed", "valid"), [(seed, valid) for seed in range(4) for valid in (False, True)])
def test_a_plain_csv_is_read_as_csv_dict_reader_reads_it(seed: int, valid: bool) -> None:
    """Random rows; with ``valid``, rows of good labels only, which are read a column at a time."""
    rng = random.Random(seed)
    stamps = ["2026-09-21T14:13:20.000000Z", "2026-13-01T00:00:00.000000Z", "2026-09-21 14:13:20", "2040-01-01"]
    cells = ["c1", "c-2", " c3", "c 4", "", " ", "x" * 65, "0", "1", " 1 ", "2", "yes", *stamps]
    if valid:
        cells = ["c1", "c-2", "x" * 64, "0", "1", " 1 ", "", "2026-09-21T14:13:20.000000Z", "2026-09-21 14:13:20"]
    for _ in range(200):
        header = rng.sample(["customer_id", "churn", "observed_at", "note"], rng.choice([2, 3, 4]))
        widths = [len(header)] if valid else [0, 1, 2, len(header), len(header) + 1]
        rows = [",".join(rng.choice(cells) for _ in range(rng.choice(widths))) for _ in range(rng.randrange(12))]
        text = "\n".join([",".join(header), *rows]) + rng.choice(["", "\n", "\n\n"])
        if "customer_id" not in header or "churn" not in header:
            continue  # a missing column is an error either way (test_labeljoin.py)
        got = fb.parse_labels(text.encode(), "labels.csv")
        assert fb._plain_csv(text, fb.Labels([]))
        want = _dict_reader_labels(text)
        assert (got.labels, got.skipped, got.format) == (want.labels, want.skipped, want.format)
