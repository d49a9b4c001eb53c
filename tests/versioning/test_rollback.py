"""``churnops rollback``: one command moves prod back, across any code change, touching no file.

The history fixture's v2 changed code the CLI and the service import and a stage script,
then went to prod. Rolling back to v1 must leave HEAD, the index, every file of the work tree
and both code changes exactly as they were, and record one audit commit on the registry
branch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.project import run
from tests.utils.workflow import CODE_EDITS, History, cache_object, churnops, prod, registry_log, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_rollback_across_code_changes_moves_only_the_pointer(history: History) -> None:
    p = history.root
    assert prod(p) == history.v2
    before = snapshot(p)
    proc = churnops(p, "rollback", "v1", "--reason", "v2 drops live F1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"prod is now model {history.v1[:12]} (built by ")
    assert f"was {history.v2[:12]}" in proc.stdout and "on churnops/registry" in proc.stdout
    assert prod(p) == history.v1
    assert snapshot(p) == before  # HEAD, index, every file: nothing rewound, nothing restored
    for rel, line in CODE_EDITS.items():
        assert (p / rel).read_text().endswith(line)  # the newer code is still there
    assert run(["git", "status", "--porcelain"], p).stdout == ""
    assert run(["dvc", "status", "--json"], p).stdout.strip() == "{}"
    # The audit entry: who, when, what, why.
    log = run(["git", "log", "-1", "--format=%an%n%s%n%b", "churnops/registry"], p).stdout
    assert f"rollback: prod {history.v2[:12]} -> {history.v1[:12]}" in log
    assert "Churnops-Action: rollback" in log and "Churnops-Reason: v2 drops live F1" in log
    assert "churnops test" in log
    # Again: already prod, nothing to do, no new audit commit.
    commits = len(registry_log(p))
    again = churnops(p, "rollback", "v1")
    assert again.returncode == 0 and "is already prod: nothing to do" in again.stdout
    assert len(registry_log(p)) == commits


def test_a_version_is_a_revision_or_an_md5_prefix(history: History) -> None:
    p = history.root
    assert churnops(p, "rollback", history.v1[:8]).returncode == 0
    assert prod(p) == history.v1
    assert churnops(p, "rollback", "HEAD").returncode == 0  # HEAD's dvc.lock records v2
    assert prod(p) == history.v2
    for spec, words in [
        ("no-such-tag", "is neither a Git revision nor the md5 of a known model"),
        ("abc", "is neither a Git revision nor the md5 of a known model"),  # too short to be an md5 prefix
        ("HEAD~2", "records no model"),  # the initial commit, before any dvc.lock
    ]:
        proc = churnops(p, "rollback", spec)
        assert proc.returncode == 2, (spec, proc.stderr)
        assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
        assert prod(p) == history.v2


def test_rollback_works_from_any_branch_and_a_dirty_tree_without_touching_them(history: History) -> None:
    p = history.root
    run(["git", "switch", "-q", "-c", "feature/x", "v1"], p)
    (p / "params.yaml").write_text((p / "params.yaml").read_text().replace("C: 0.1", "C: 0.5"))
    (p / "untracked.txt").write_text("mine\n")
    before = snapshot(p)
    assert churnops(p, "rollback", "v1").returncode == 0
    assert prod(p) == history.v1
    assert snapshot(p) == before
    run(["git", "switch", "-q", "--detach", "v2"], p, check=False)  # dirty params: stays on feature/x
    assert churnops(p, "rollback", "v2").returncode == 0
    assert prod(p) == history.v2


def test_a_model_in_no_cache_and_no_remote_is_refused_then_rebuilt_bit_for_bit(history: History) -> None:
    p = history.root
    obj = cache_object(p, history.v1)
    obj.unlink()
    before = (snapshot(p), registry_log(p))
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in proc.stderr
    assert f"model {history.v1[:12]} (v1, built by " in line
    assert "not in the DVC cache, and no default DVC remote is configured; nothing was changed" in line
    assert "`--rebuild` reproduces it from its commit" in line
    assert (snapshot(p), registry_log(p)) == before
    proc = churnops(p, "rollback", "v1", "--rebuild")
    assert proc.returncode == 0, proc.stderr
    assert "rebuilding v1" in proc.stderr and "object(s) from" in proc.stderr
    assert prod(p) == history.v1 and obj.is_file()
    assert not (p / ".git" / "churnops-rebuild").exists()
    assert run(["git", "worktree", "list", "--porcelain"], p).stdout.count("worktree ") == 1


def test_a_rebuild_that_does_not_reproduce_the_hash_changes_nothing(history: History) -> None:
    p = history.root
    # A commit whose dvc.lock records a model hash that no run of its pipeline produces.
    run(["git", "switch", "-q", "-c", "forged", "v1"], p)
    (p / "dvc.lock").write_text((p / "dvc.lock").read_text().replace(history.v1, "deadbeef" * 4))
    run(["git", "commit", "-qam", "a lock no run produced"], p)
    before = registry_log(p)
    proc = churnops(p, "rollback", "forged", "--rebuild")
    assert proc.returncode == 1
    assert "did not reproduce its recorded hashes (models/model.json: recorded deadbeefdead, rebuilt" in proc.stderr
    assert proc.stderr.strip().endswith("nothing was changed")
    assert registry_log(p) == before
    assert not (p / ".git" / "churnops-rebuild").exists()


def test_a_corrupt_cache_object_is_refused(history: History) -> None:
    p = history.root
    obj = cache_object(p, history.v1)
    obj.chmod(0o644)
    obj.write_bytes(obj.read_bytes().replace(b'"threshold"', b'"threshold" '))
    proc = churnops(p, "rollback", "v1")
    assert proc.returncode == 1
    assert "the DVC cache's copy (.dvc/cache/files/md5/" in proc.stderr and "is corrupt" in proc.stderr
    assert prod(p) == history.v2


def test_reload_url_without_a_token_is_refused_before_anything_changes(history: History) -> None:
    p = history.root
    proc = churnops(p, "rollback", "v1", "--reload-url", "http://127.0.0.1:9")
    assert proc.returncode == 1
    assert "CHURNOPS_ADMIN_TOKEN" in proc.stderr and "nothing was changed" in proc.stderr
    assert prod(p) == history.v2


def test_a_fresh_clone_rolls_back_from_the_remote_tracking_registry(history: History, tmp_path: Path) -> None:
    """A clone has ``origin/churnops/registry`` only: rollback builds on it, creating the local branch."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(history.root), str(clone)], tmp_path)
    assert run(["git", "branch", "--list", "churnops/registry"], clone).stdout == ""
    assert prod(clone) is None  # no local branch yet: `git show churnops/registry:...` resolves nothing
    # Share the origin's DVC cache: no remote needed for this test.
    run(["dvc", "cache", "dir", "--local", str(history.root / ".dvc" / "cache")], clone)
    listing = churnops(clone, "models")
    assert listing.returncode == 0 and f"prod: {history.v2[:12]}" in listing.stdout
    assert churnops(clone, "rollback", "v1").returncode == 0
    assert prod(clone) == history.v1
    parent = run(["git", "rev-parse", "churnops/registry^"], clone).stdout.strip()
    assert parent == run(["git", "rev-parse", "origin/churnops/registry"], clone).stdout.strip()
