"""``churnops models`` on synthetic Git histories: which commits count, what each shows, and the
registry beside them (prod, its history, versions only the registry knows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churnops.core.errors import GitError
from churnops.versioning import registry
from churnops.versioning.history import ModelEntry, model_history
from churnops.versioning.listing import Listing, build, format_table
from churnops.versioning.registry import Change, Entry, State, Tip
from tests.utils.project import env, run

pytestmark = pytest.mark.e2e  # runs git (fast: no DVC)


def lock_text(md5: str, gate: float = 0.7, broken: bool = False) -> str:
    if broken:
        return "stages: [unclosed\n"
    return f"""schema: '2.0'
stages:
  train:
    cmd: python stages/train.py
    params:
      params.yaml:
        train.gate_f1: {gate}
        train.seed: 42
    outs:
    - path: models/model.json
      hash: md5
      md5: {md5}
      size: 10
"""


class Repo:
    """A bare-bones repo whose commits write dvc.lock, metrics and params by hand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        run(["git", "init", "-q", "-b", "main"], root)

    def commit(self, message: str, files: dict[str, str]) -> str:
        for rel, text in files.items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_text(text)
        run(["git", "add", "-A"], self.root)
        run(["git", "commit", "-q", "--allow-empty", "-m", message], self.root)
        return run(["git", "rev-parse", "HEAD"], self.root).stdout.strip()

    def model(self, message: str, md5: str, f1: float, gate: float = 0.7) -> str:
        return self.commit(
            message,
            {
                "dvc.lock": lock_text(md5, gate),
                "metrics/evaluate.json": json.dumps({"f1": f1, "roc_auc": round(f1 + 0.1, 4)}),
                "params.yaml": f"train:\n  gate_f1: {gate}\n",
            },
        )

    def git(self, *args: str) -> str:
        return run(["git", *args], self.root).stdout


A, B, C = "a" * 32, "b" * 32, "c" * 32


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process registry writes commit as the subprocesses do: a fixed identity, no user config."""
    for key, value in env().items():
        if key.startswith(("GIT_", "DVC_")):
            monkeypatch.setenv(key, value)


def test_lists_models_newest_first_with_metrics_tags_and_gate(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.commit("initial: code", {"README": "x\n"})
    first = repo.model("first model", A, 0.80)
    repo.git("tag", "v1")
    repo.commit("docs only", {"README": "y\n"})
    repo.model("gate 0.75: same model, new lock", A, 0.80, gate=0.75)
    second = repo.model("retrain", B, 0.83, gate=0.75)
    repo.git("tag", "-a", "v2", "-m", "annotated")
    repo.git("tag", "prod")

    entries = model_history(repo.root, current_md5=A)

    assert [e.subject for e in entries] == ["retrain", "first model"]
    newest, oldest = entries
    assert (newest.commit, newest.md5, newest.f1, newest.roc_auc, newest.gate_f1) == (second, B, 0.83, 0.93, 0.75)
    assert set(newest.tags) == {"v2", "prod"}
    assert (oldest.commit, oldest.md5, oldest.tags, oldest.gate_f1) == (first, A, ("v1",), 0.7)
    assert oldest.short == first[: len(oldest.short)] and oldest.date.startswith("20")
    assert [e.current for e in entries] == [False, True]


def test_a_rollback_to_an_older_model_is_listed_again(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.model("first", A, 0.8)
    repo.model("second", B, 0.7)
    repo.model("rollback: model aaa from HEAD~1", A, 0.8)
    entries = model_history(repo.root, current_md5=A)
    assert [e.subject for e in entries] == ["rollback: model aaa from HEAD~1", "second", "first"]
    assert [e.current for e in entries] == [True, False, True]


def branched(root: Path) -> Repo:
    """A repo whose ``main`` has model A and whose ``feature`` branch adds model B; ``main`` checked out."""
    repo = Repo(root)
    repo.model("first", A, 0.8)
    repo.git("switch", "-q", "-c", "feature")
    repo.model("branch model", B, 0.81)
    repo.git("switch", "-q", "main")
    return repo


def test_models_of_both_sides_of_a_merge_are_listed(tmp_path: Path) -> None:
    # The merge keeps the branch's lock: default `git log` simplification would follow
    # only the branch and hide main's own model C.
    repo = branched(tmp_path / "r")
    repo.model("main model", C, 0.82)
    repo.git("merge", "-q", "-X", "theirs", "--no-edit", "feature")
    lock = repo.root / "dvc.lock"
    assert B in lock.read_text()

    entries = model_history(repo.root, current_md5="x")
    assert {e.subject for e in entries} == {"first", "branch model", "main model"}


def test_a_merge_that_produces_a_new_model_is_listed(tmp_path: Path) -> None:
    repo = branched(tmp_path / "r")
    repo.commit("main docs", {"README": "main\n"})
    repo.git("merge", "-q", "--no-commit", "feature")
    repo.model("merge: re-run", C, 0.9)
    assert model_history(repo.root)[0].subject == "merge: re-run"


def test_commits_without_a_model_or_with_a_broken_lock_are_skipped(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.commit("lock without model", {"dvc.lock": "schema: '2.0'\nstages:\n  prepare:\n    outs: []\n"})
    repo.model("first", A, 0.8)
    repo.commit("broken lock", {"dvc.lock": lock_text("", broken=True)})
    repo.model("after the break", B, 0.8)
    repo.commit(
        "no metrics, gate from params.yaml",
        {"dvc.lock": lock_text(C).replace("        train.gate_f1: 0.7\n", ""), "metrics/evaluate.json": "not json"},
    )
    entries = model_history(repo.root, current_md5=None)
    assert [e.subject for e in entries] == ["no metrics, gate from params.yaml", "after the break", "first"]
    assert (entries[0].f1, entries[0].roc_auc, entries[0].gate_f1) == (None, None, 0.7)


def test_empty_repository_and_unknown_revision(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    assert model_history(repo.root) == []
    repo.model("first", A, 0.8)
    with pytest.raises(GitError, match="unknown revision 'nope'"):
        model_history(repo.root, "nope")
    with pytest.raises(GitError, match="not inside a Git repository"):
        model_history(tmp_path)


def test_cli_table_json_and_current_marker(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.model("first", A, 0.8)
    repo.git("tag", "v1")
    second = repo.model("second", B, 0.85)
    # The workspace's model file decides which entry is current.
    (repo.root / "models").mkdir()
    (repo.root / "models" / "model.json").write_bytes(b"")
    current = "d41d8cd98f00b204e9800998ecf8427e"  # md5 of b""
    repo.commit("third: the empty model", {"dvc.lock": lock_text(current)})

    out = run(["churnops", "models", "--json", "--repo", str(repo.root)], tmp_path).stdout
    doc = json.loads(out)
    assert doc["prod"] is None and doc["events"] == []
    data = doc["versions"]
    assert [d["subject"] for d in data] == ["third: the empty model", "second", "first"]
    assert data[1] == {
        "commit": second,
        "short": second[: len(data[1]["short"])],
        "date": data[1]["date"],
        "tags": [],
        "subject": "second",
        "md5": B,
        "f1": 0.85,
        "roc_auc": 0.95,
        "gate_f1": 0.7,
        "current": False,
        "change": "model",
        "params_changed": {},
        "prod": [],
    }
    assert [d["current"] for d in data] == [True, False, False]

    none = run(["churnops", "models", "--prod", "--repo", str(repo.root)], tmp_path, check=False)
    assert (none.returncode, none.stdout) == (1, "")
    assert none.stderr == "churnops models: no model is prod: churnops/registry does not exist yet\n"
    table = run(["churnops", "models", "--repo", str(repo.root)], tmp_path).stdout.splitlines()
    assert table[0] == "prod: none (no churnops/registry branch yet: `churnops promote` makes the first entry)"
    assert table[1].split() == ["MD5", "BUILT", "BY", "DATE", "F1", "ROC_AUC", "GATE_F1", "PROD", "TAGS", "SUBJECT"]
    assert table[2].startswith("*") and table[2].endswith("third: the empty model")
    assert "v1" in table[4] and "0.8000" in table[4] and not table[4].startswith("*")


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    proc = run(["churnops", "models", "--repo", str(tmp_path / "missing")], tmp_path, check=False)
    assert proc.returncode == 2  # bad input: the fix is another --repo
    assert proc.stderr.strip().splitlines() == [f"churnops models: --repo {tmp_path / 'missing'}: no such directory"]
    proc = run(["churnops", "models", "--repo", str(tmp_path)], tmp_path, check=False)
    assert proc.returncode == 2 and "not inside a Git repository" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_all_lists_params_changes_without_a_new_model(tmp_path: Path) -> None:
    # The lab's gate story: 0.60 on a branch, 0.75 on another, merged to 0.70; one model throughout.
    repo = Repo(tmp_path / "r")
    first = repo.model("first model", A, 0.80, gate=0.6)
    stricter = repo.model("gate 0.75", A, 0.80, gate=0.75)
    relaxed = repo.commit("gate 0.70, params only", {"params.yaml": "train:\n  gate_f1: 0.7\n"})
    repo.commit("docs only", {"README": "y\n"})

    assert [e.commit for e in model_history(repo.root, current_md5=A)] == [first]

    entries = model_history(repo.root, current_md5=A, include_params=True)
    assert [(e.commit, e.change) for e in entries] == [(relaxed, "params"), (stricter, "params"), (first, "model")]
    assert entries[0].params_changed == {"train.gate_f1": [0.75, 0.7]}
    assert entries[1].params_changed == {"train.gate_f1": [0.6, 0.75]}
    assert entries[1].md5 == A and not entries[1].current  # only the model's own row is "current"

    out = run(["churnops", "models", "--all", "--repo", str(repo.root)], tmp_path).stdout.splitlines()
    assert out[1].split()[-2:] == ["CHANGE", "SUBJECT"]
    assert "train.gate_f1 0.75->0.7" in out[2] and "train.gate_f1 0.6->0.75" in out[3]
    data = json.loads(run(["churnops", "models", "--all", "--json", "--repo", str(repo.root)], tmp_path).stdout)
    assert [d["change"] for d in data["versions"]] == ["params", "params", "model"]


def test_f1_gets_the_digits_that_tell_models_apart(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.model("one", A, 0.804012)
    repo.model("two", B, 0.804049)
    repo.model("three", C, 0.8040)
    table = run(["churnops", "models", "--repo", str(repo.root)], tmp_path).stdout
    # Equal to 4 digits (0.8040), told apart with 5.
    assert "0.80401" in table and "0.80405" in table and "0.80400" in table


def entry(subject: str, *, current: bool = False, changed: dict[str, list[object]] | None = None) -> ModelEntry:
    return ModelEntry(
        commit="c" * 40,
        short="ccccccc",
        date="2026-11-30T08:00:00+00:00",
        tags=("v1", "best"),
        subject=subject,
        md5=A,
        f1=0.81234,
        roc_auc=None,
        gate_f1=0.7,
        current=current,
        change="params" if changed else "model",
        params_changed=changed or {},
    )


def listing(entries: list[ModelEntry], current: str | None) -> Listing:
    return Listing(entries, Tip(None, None, State()), [], {}, current)


def test_the_table_is_plain_one_line_per_entry_and_says_when_the_workspace_model_is_unlisted() -> None:
    long = "train: " + "a long subject " * 20
    changed = {f"train.k{i}": [i, i + 1] for i in range(5)}
    text = format_table(listing([entry(long, changed=changed), entry("first", current=True)], A), changes=True)
    lines = text.splitlines()[1:]
    assert "\x1b" not in text  # not a terminal: no colour codes
    header = ["MD5", "BUILT", "BY", "DATE", "F1", "ROC_AUC", "GATE_F1", "PROD", "TAGS", "CHANGE", "SUBJECT"]
    assert lines[0].split() == header
    assert lines[1].endswith(long.rstrip()) and "2026-11-30 08:00:00" in lines[1]  # never wrapped
    assert "train.k0 0->1, train.k1 1->2, train.k2 2->3 (+2)" in lines[1]
    assert lines[2].split()[:9] == ["*", A[:12], "ccccccc", "2026-11-30", "08:00:00", "0.8123", "-", "0.70", "v1,best"]
    assert lines[2].split()[-2:] == ["model", "first"]
    assert len(lines) == 3

    unlisted = format_table(listing([entry("first")], "f" * 32))
    assert unlisted.splitlines()[-1] == f"the workspace's model ({'f' * 32}) is not recorded by any commit listed above"
    assert "no accepted model in this history" in format_table(listing([], None))


def deploy(repo: Repo, action: str, md5: str, built_by: str, reason: str | None = None) -> str:
    """Move prod as churnops does (a registry commit), without DVC."""
    tip = registry.read(repo.root)
    change = Change(action, "prod", Entry(md5, built_by), f"{action}: prod -> {md5[:12]}", reason=reason)
    return registry.write(repo.root, change, tip)


def test_prod_its_periods_and_the_history_of_prod(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    first = repo.model("first", A, 0.80)
    second = repo.model("second", B, 0.83)
    e1 = deploy(repo, "promote", A, first)
    e2 = deploy(repo, "promote", B, second, reason="verdict: promote")
    e3 = deploy(repo, "rollback", A, first, reason="live F1 dropped")

    got = build(repo.root)
    assert got.prod == Entry(A, first)
    assert [(e.commit, e.action, e.previous, e.model, e.reason) for e in got.events] == [
        (e3, "rollback", B, A, "live F1 dropped"),
        (e2, "promote", A, B, "verdict: promote"),
        (e1, "promote", None, A, None),
    ]
    assert [(p.entered.commit, p.left.commit if p.left else None) for p in got.periods[A]] == [(e1, e2), (e3, None)]
    assert [(p.entered.commit, p.left.commit if p.left else None) for p in got.periods[B]] == [(e2, e3)]

    lines = run(["churnops", "models", "--repo", str(repo.root)], tmp_path).stdout.splitlines()
    assert lines[0].startswith(f"prod: {A[:12]}, built by {first[:8]}, since ") and "(rollback)" in lines[0]
    assert lines[0].endswith(f"registry churnops/registry @ {e3[:8]}")
    rows = {line.lstrip("* ").split()[0]: line.lstrip("* ").split() for line in lines[2:4]}
    assert rows[B[:12]][7] == "was" and rows[A[:12]][7] == "now"
    assert lines[2].startswith("*")  # the workspace's model (HEAD's lock: B) is marked apart from prod
    history = lines[lines.index("history of prod") + 1 :]
    assert history[0].split() == ["DATE", "ACTION", "FROM", "TO", "BY", "COMMIT", "REASON"]
    assert history[1].split()[2:7] == ["rollback", B[:12], A[:12], "churnops", "test"]
    assert history[1].endswith("live F1 dropped") and history[3].split()[2:5] == ["promote", "-", A[:12]]

    assert run(["churnops", "models", "--prod", "--repo", str(repo.root)], tmp_path).stdout == f"{A}\n"
    doc = json.loads(run(["churnops", "models", "--json", "--repo", str(repo.root)], tmp_path).stdout)
    assert doc["prod"] == {"md5": A, "commit": first, "registry": "churnops/registry", "registry_commit": e3}
    versions = {v["md5"]: v for v in doc["versions"]}
    assert [(p["entered_by"], p["left_by"]) for p in versions[A]["prod"]] == [(e1, e2), (e3, None)]
    assert [ev["action"] for ev in doc["events"]] == ["rollback", "promote", "promote"]


def test_a_version_only_the_registry_knows_is_listed_and_a_hand_edit_is_an_edit(tmp_path: Path) -> None:
    repo = branched(tmp_path / "r")  # main has model A; feature has B, never merged
    feature = repo.git("rev-parse", "feature").strip()
    deploy(repo, "promote", B, feature)
    got = build(repo.root)
    versions = {v.md5: (v.commit, v.subject, v.f1) for v in got.versions}
    main = repo.git("rev-parse", "main").strip()
    assert versions == {B: (feature, "branch model", 0.81), A: (main, "first", 0.8)}
    # A registry commit made by hand (no churnops trailer) is listed as an edit.
    repo.git("switch", "-q", "churnops/registry")
    (repo.root / "registry.json").write_bytes(registry.dumps(State({"prod": Entry(A, main)})))
    repo.git("commit", "-qam", "by hand")
    repo.git("switch", "-q", "main")
    assert [e.action for e in build(repo.root).events] == ["edit", "promote"]


def test_a_malformed_registry_is_one_line_naming_the_field(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    first = repo.model("first", A, 0.8)
    deploy(repo, "promote", A, first)
    repo.git("switch", "-q", "churnops/registry")
    (repo.root / "registry.json").write_text(
        json.dumps({"format": "churnops-registry/1", "stages": {"prod": {"md5": "nope", "commit": first}}})
    )
    repo.git("commit", "-qam", "broken by hand")
    repo.git("switch", "-q", "main")
    proc = run(["churnops", "models", "--repo", str(repo.root)], tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        "churnops models: churnops/registry:registry.json: stages.prod.md5: expected 32 lowercase hex digits "
        "(got 'nope')\n"
    )
