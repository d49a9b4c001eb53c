"""``churnops rollback`` on a real DVC project: the happy paths, the refusals, the transaction."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from churnops.core.lockfile import read_locked_model
from churnops.versioning.history import file_md5
from tests.utils.project import lock_md5, run
from tests.utils.workflow import STAGE_EDIT, STAGE_EDIT_LINE, History, churnops, empty_cache, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def assert_rolled_back(project: Path, md5: str) -> None:
    """The workspace is REV's pipeline state: lock, model bytes and DVC agree, Git is clean."""
    assert lock_md5(project) == md5
    assert file_md5(project / "models/model.json") == md5
    assert run(["dvc", "status", "--json"], project).stdout.strip() == "{}"
    assert run(["git", "status", "--porcelain"], project).stdout == ""


def head_subject(project: Path) -> str:
    return run(["git", "log", "-1", "--format=%s"], project).stdout.strip()


def test_rollback_to_a_tag_then_to_head_tilde_n(history: History) -> None:
    p = history.root
    before = run(["git", "rev-parse", "HEAD"], p).stdout.strip()

    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"rolled back to model {history.v1} from v1")
    assert head_subject(p) == f"rollback: model {history.v1} from v1"
    # History moved forward: the previous HEAD is the rollback commit's parent.
    assert run(["git", "rev-parse", "HEAD~1"], p).stdout.strip() == before
    assert_rolled_back(p, history.v1)
    # The params, metrics and the stage code that go with v1 came back too.
    for path in ("params.yaml", "dvc.lock", "metrics/evaluate.json", "metrics/train.json", STAGE_EDIT):
        assert (p / path).read_bytes() == run(["git", "show", f"v1:{path}"], p).stdout.encode(), path
    assert STAGE_EDIT_LINE not in (p / STAGE_EDIT).read_text()
    assert f"note: v1's pipeline code was restored too (its dvc.lock pins it): {STAGE_EDIT}" in proc.stderr
    changed = run(["git", "show", "--name-only", "--format=", "HEAD"], p).stdout.split()
    assert {"params.yaml", "dvc.lock", "metrics/evaluate.json", STAGE_EDIT} <= set(changed)

    models = json.loads(churnops(p, "models", "--json", check=True).stdout)
    assert models[0]["subject"] == f"rollback: model {history.v1} from v1" and models[0]["current"]
    assert [m["md5"] for m in models] == [history.v1, history.v2, history.v1]

    # HEAD~1 is now the v2 commit: roll forward to it by relative name.
    proc = churnops(p, "rollback", "HEAD~1")
    assert proc.returncode == 0, proc.stderr
    assert head_subject(p) == f"rollback: model {history.v2} from HEAD~1"
    assert_rolled_back(p, history.v2)
    assert STAGE_EDIT_LINE in (p / STAGE_EDIT).read_text()

    # Rolling back to what is already there changes nothing and commits nothing.
    head = run(["git", "rev-parse", "HEAD"], p).stdout
    proc = churnops(p, "rollback", "v2")
    assert proc.returncode == 0 and proc.stdout.startswith(f"already at model {history.v2}")
    assert run(["git", "rev-parse", "HEAD"], p).stdout == head


def test_no_commit_stages_the_rollback(history: History) -> None:
    p = history.root
    head = run(["git", "rev-parse", "HEAD"], p).stdout
    proc = churnops(p, "rollback", "v1", "--no-commit")
    assert proc.returncode == 0, proc.stderr
    assert "not committed" in proc.stdout
    assert run(["git", "rev-parse", "HEAD"], p).stdout == head
    staged = run(["git", "diff", "--cached", "--name-only"], p).stdout.split()
    assert {"params.yaml", "dvc.lock", STAGE_EDIT} <= set(staged)
    assert run(["git", "diff", "--name-only"], p).stdout == ""  # everything is staged, nothing else
    assert file_md5(p / "models/model.json") == history.v1
    assert run(["dvc", "status", "--json"], p).stdout.strip() == "{}"


def test_refuses_a_dirty_tree_unless_forced(history: History) -> None:
    p = history.root
    params = p / "params.yaml"
    params.write_text(params.read_text().replace("seed: 42", "seed: 43", 1))
    before = snapshot(p)
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "churnops rollback: the working tree has uncommitted changes (params.yaml); "
        "commit or stash them, or use --force"
    )
    assert snapshot(p) == before

    proc = churnops(p, "rollback", "v1", "--force")
    assert proc.returncode == 0, proc.stderr
    assert_rolled_back(p, history.v1)


def test_refuses_a_modified_dvc_output(history: History) -> None:
    # Git sees nothing: the model is DVC's. Its bytes may exist nowhere else, so it counts.
    p = history.root
    (p / "models/model.json").write_text("{}")
    before = snapshot(p)
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1
    assert "models/model.json (modified DVC output)" in proc.stderr
    assert snapshot(p) == before


def test_refuses_revisions_without_a_model(history: History) -> None:
    p = history.root
    first = run(["git", "rev-list", "--max-parents=0", "HEAD"], p).stdout.strip()
    proc = churnops(p, "rollback", first)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"churnops rollback: {first} has no dvc.lock: it records no model to roll back to"

    proc = churnops(p, "rollback", "no-such-tag")
    assert proc.returncode == 1
    assert "unknown revision 'no-such-tag'" in proc.stderr and "Traceback" not in proc.stderr

    # A lock without the model output (e.g. a pipeline that stops before train).
    lock = yaml.safe_load((p / "dvc.lock").read_text())
    del lock["stages"]["train"]
    (p / "dvc.lock").write_text(yaml.safe_dump(lock))
    run(["git", "commit", "-q", "-am", "lock without train"], p)
    proc = churnops(p, "rollback", "HEAD", "--force")
    assert proc.returncode == 1
    assert "HEAD records no model: its dvc.lock has no models/model.json output" in proc.stderr


def test_reload_url_without_token_changes_nothing(history: History) -> None:
    p = history.root
    before = snapshot(p)
    proc = run(
        ["churnops", "rollback", "v1", "--reload-url", "http://127.0.0.1:9"],
        p,
        check=False,
        extra_env={"CHURNOPS_ADMIN_TOKEN": ""},
    )
    assert proc.returncode == 1
    assert "needs the service's admin token in $CHURNOPS_ADMIN_TOKEN" in proc.stderr
    assert snapshot(p) == before


def test_empty_cache_without_remote_fails_cleanly_then_rebuild_is_bit_exact(history: History) -> None:
    p = history.root
    empty_cache(p)
    before = snapshot(p)

    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1
    assert "not in the DVC cache, and no default DVC remote is configured; nothing was changed" in proc.stderr
    assert "models/model.json" in proc.stderr and "--rebuild" in proc.stderr
    assert snapshot(p) == before

    proc = churnops(p, "rollback", "v1", "--rebuild")
    assert proc.returncode == 0, proc.stderr
    assert "rebuilding v1" in proc.stderr
    assert_rolled_back(p, history.v1)
    # Bit-exact: every cached output equals what v1 recorded, and the temporary worktree is gone.
    lock = yaml.safe_load(run(["git", "show", "v1:dvc.lock"], p).stdout)
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if (p / out["path"]).is_file():
                assert file_md5(p / out["path"]) == out["md5"], out["path"]
    assert run(["git", "worktree", "list", "--porcelain"], p).stdout.count("worktree ") == 1


def test_rebuild_that_does_not_reproduce_the_recorded_hash_changes_nothing(history: History) -> None:
    # A commit whose lock claims a model hash no run of its pipeline produces.
    p = history.root
    text = (p / "dvc.lock").read_text().replace(history.v2, "f" * 32)
    (p / "dvc.lock").write_text(text)
    run(["git", "commit", "-q", "-am", "tampered lock"], p)
    run(["git", "tag", "tampered"], p)
    run(["git", "revert", "--no-edit", "HEAD"], p)
    cache_files = sorted(str(f) for f in (p / ".dvc/cache").rglob("*") if f.is_file())
    before = snapshot(p)

    proc = churnops(p, "rollback", "tampered", "--rebuild")
    assert proc.returncode == 1
    assert "did not reproduce its recorded hashes (models/model.json: recorded ffffffffffff" in proc.stderr
    # One line: which output differs, the likely cause, and that nothing changed.
    assert len(proc.stderr.strip().splitlines()) == 2  # the progress line, then the error
    assert "likely cause" in proc.stderr and "requirements.lock" in proc.stderr
    assert proc.stderr.rstrip().endswith("nothing was changed")
    assert snapshot(p) == before
    assert sorted(str(f) for f in (p / ".dvc/cache").rglob("*") if f.is_file()) == cache_files
    assert not (p / ".git/churnops-rollback/rebuild").exists()


def test_a_corrupt_cache_object_is_caught_and_everything_restored(history: History) -> None:
    # The failure happens after files were rewritten: the transaction must undo it all.
    p = history.root
    obj = p / ".dvc/cache/files/md5" / history.v1[:2] / history.v1[2:]
    obj.chmod(0o644)
    obj.write_text('{"format": "not the model"}')
    before = snapshot(p)
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1
    assert f"but v1 records {history.v1}" in proc.stderr and "nothing was changed" in proc.stderr
    assert snapshot(p) == before
    assert read_locked_model(p / "dvc.lock").md5 == history.v2
    assert not list((p / ".git/churnops-rollback").iterdir())


def test_empty_cache_and_a_remote_without_the_objects_changes_nothing(history: History, tmp_path: Path) -> None:
    p = history.root
    (tmp_path / "empty-remote").mkdir()
    run(["dvc", "remote", "add", "-d", "storage", str(tmp_path / "empty-remote")], p)
    run(["git", "commit", "-q", "-am", "dvc: remote"], p)
    empty_cache(p)
    before = snapshot(p)
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1
    assert re.search(r"fetching \d+ object\(s\) of v1 from the DVC remote 'storage'", proc.stderr)
    assert "models/model.json (" + history.v1[:12] + ")" in proc.stderr
    assert "neither in the DVC cache nor in the remote 'storage'; nothing was changed" in proc.stderr
    assert snapshot(p) == before
