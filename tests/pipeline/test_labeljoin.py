"""churnops feedback: delayed labels joined to the log, figures equal to a hand join + scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from churnops.cli import main
from churnops.core.logformat import BatchEntry, RowEntry, encode, rfc3339
from churnops.pipeline import labeljoin as fb
from tests.utils.factories import GOOD_CUSTOMER

FEATURES = GOOD_CUSTOMER
T0 = 1_700_000_000.0


def write_log(path: Path, seed: int, n_customers: int = 300) -> None:
    """Single and batch predictions of two model versions; some customers predicted several times."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(3 * n_customers // 2):
        ts = T0 + k * 60
        version = "v1" if k < n_customers else "v2"
        if k % 3 == 0:  # a batch of three rows, one without an id
            ids = [f"c{rng.integers(n_customers)}", None, f"c{rng.integers(n_customers)}"]
            p = rng.random(3).tolist()
            out.append(BatchEntry(ts, f"r{k}", version, [FEATURES] * 3, p, [x >= 0.5 for x in p], 1.0, ids))
        else:
            p = float(rng.random())
            out.append(RowEntry(ts, f"r{k}", version, FEATURES, p, p >= 0.5, 1.0, f"c{rng.integers(n_customers)}"))
    path.write_bytes(b"".join(encode(e) for e in out) + b"not json\n")


def write_labels(path: Path, seed: int, n_customers: int = 300) -> None:
    rng = np.random.default_rng(seed + 1)
    rows = ["customer_id,churn,observed_at"]
    for c in range(n_customers + 20):  # 20 ids that were never predicted
        observed = "" if c % 2 else rfc3339(T0 + rng.integers(0, 3 * n_customers // 2) * 60)
        rows.append(f"c{c},{int(rng.random() < 0.5)},{observed}")
    rows += ["bad id!,1,", "c1,2,", "c2,1,yesterday", "c3,,"]
    path.write_text("\n".join(rows) + "\n")


def hand_join(log: Path, labels: Path) -> tuple[list[tuple[int, float, bool, str]], int]:
    """The join a person writes: newest prediction per customer not after observed_at."""
    from datetime import datetime

    preds: dict[str, list[tuple[str, int, float, bool, str]]] = {}
    for i, line in enumerate(log.read_text().splitlines()):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "customer_id" in rec:
            preds.setdefault(rec["customer_id"], []).append(
                (rec["ts"], i, rec["churn_probability"], rec["churn"], rec["model_version"])
            )
    rows, unmatched = [], 0
    for line in labels.read_text().splitlines()[1:]:
        cid, churn, observed = line.split(",")
        if churn not in ("0", "1") or not cid.isalnum():
            continue
        if observed:
            try:
                datetime.fromisoformat(observed)
            except ValueError:
                continue
        cands = [p for p in preds.get(cid, []) if not observed or p[0] <= observed]
        if not cands:
            unmatched += 1
            continue
        best = max(cands, key=lambda p: (p[0], p[1]))
        rows.append((int(churn), best[2], best[3], best[4]))
    return rows, unmatched


def expected(rows: list[tuple[int, float, bool, str]]) -> dict[str, float]:
    y = [r[0] for r in rows]
    pred = [int(r[2]) for r in rows]
    proba = [r[1] for r in rows]
    return {
        "f1": f1_score(y, pred),
        "precision": precision_score(y, pred),
        "recall": recall_score(y, pred),
        "roc_auc": roc_auc_score(y, proba),
        "mean_probability": float(np.mean(proba)),
        "observed_churn_rate": float(np.mean(y)),
        "n_labeled": len(rows),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_feedback_figures_equal_a_hand_join_and_scikit_learn(tmp_path: Path, seed: int) -> None:
    log, labels, out = tmp_path / "p.jsonl", tmp_path / "labels.csv", tmp_path / "report.json"
    write_log(log, seed)
    write_labels(labels, seed)
    assert main(["feedback", "--log", str(log), "--labels", str(labels), "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    rows, unmatched = hand_join(log, labels)
    assert rep["n_unmatched"] == unmatched >= 20
    assert rep["skipped"] == {"bad churn": 2, "bad customer_id": 1, "bad observed_at": 1}
    for key, value in expected(rows).items():
        assert rep[key] == pytest.approx(value, abs=1e-9), key
    for version in ("v1", "v2"):
        mine = expected([r for r in rows if r[3] == version])
        for key, value in mine.items():
            assert rep["per_model_version"][version][key] == pytest.approx(value, abs=1e-9), (version, key)
    assert sum(v["n_labeled"] for v in rep["per_model_version"].values()) == rep["n_labeled"]


def test_json_lines_labels_and_the_observed_at_bound(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_bytes(
        encode(RowEntry(T0, "a", "v1", FEATURES, 0.9, True, 1.0, "c1"))
        + encode(RowEntry(T0 + 100, "b", "v2", FEATURES, 0.1, False, 1.0, "c1"))
    )
    labels = tmp_path / "l.jsonl"
    labels.write_text(
        json.dumps({"customer_id": "c1", "churn": 1, "observed_at": rfc3339(T0 + 50)}) + "\n"
        + json.dumps({"customer_id": "c1", "churn": 0}) + "\n"
        + json.dumps({"customer_id": "c1", "churn": 1, "observed_at": "2000-01-01T00:00:00Z"}) + "\n"
        + "[1]\n"
    )  # fmt: skip
    got = fb.read_labels(labels)
    assert got.skipped == {"not a record": 1}
    frame, unmatched = fb.join(got.labels, fb.log_source([log]))
    assert unmatched.reasons == {fb.UNMATCHED_OLDER: 1}  # observed before any prediction: counted, not guessed
    assert frame["model_version"].tolist() == ["v1", "v2"]  # the bound picks the older prediction


def test_status_exit_codes_and_unreadable_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, labels = tmp_path / "p.jsonl", tmp_path / "labels.csv"
    write_log(log, 0)
    write_labels(labels, 0)
    params = tmp_path / "params.yaml"
    params.write_text(Path("tests/utils/params.yaml").read_text().replace("min_f1: 0.70", "min_f1: 0.99"))
    argv = ["feedback", "--log", str(log), "--labels", str(labels), "--params", str(params)]
    assert main(argv) == 0
    assert "status: degraded" in capsys.readouterr().out
    assert main([*argv, "--fail-on-degraded"]) == 1
    assert main([*argv, "--fail-on-degraded", "--min-labels", "100000"]) == 0
    assert "status: insufficient_labels" in capsys.readouterr().out
    assert main(["feedback", "--log", str(log), "--labels", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.csv" in err and "cannot read labels" in err
    (tmp_path / "x.csv").write_text("id,label\n1,0\n")
    assert main(["feedback", "--log", str(log), "--labels", str(tmp_path / "x.csv")]) == 2
    assert "lacks column(s) ['customer_id', 'churn']" in capsys.readouterr().err


def test_the_stage_table_has_whole_headers() -> None:
    """The feedback stage prints this table to its log: no header cut to its column's width."""
    figs = {"n_labeled": 3, "f1": 0.5, "precision": 1.0, "recall": 1 / 3, "roc_auc": None,
            "mean_probability": 0.25, "observed_churn_rate": 0.75}  # fmt: skip
    rep = {**figs, "status": fb.STATUS_OK, "per_model_version": {"e" * 32: figs}, "n_unmatched": 0, "n_skipped": 0,
           "skipped": {}, "min_f1": 0.7, "min_labels": 1}  # fmt: skip
    header, *rows, status = fb.table(rep).splitlines()
    assert header.split() == ["model_version", "n_labeled", "f1", "precision", "recall", "roc_auc",
                              "mean_probability", "observed_churn_rate"]  # fmt: skip
    assert [r.split() for r in rows] == [[name, "3", "0.500", "1.000", "0.333", "-", "0.250", "0.750"]
                                         for name in ("e" * 32, "all")]  # fmt: skip
    assert status.startswith("status: ok (")
