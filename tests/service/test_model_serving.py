"""Which model is served: the registry's prod, verified, and nothing in the work tree changes it;
each refusal says what to run and shows no server path; reloads swap atomically."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from churnops.core.errors import LockfileError
from churnops.core.lockfile import read_locked_model
from churnops.service.app import create_app
from churnops.service.loader import LoadedModel, RegistryModelLoader, public
from churnops.service.settings import Settings
from churnops.service.state import ModelState
from churnops.versioning import registry
from tests.service.conftest import METRICS
from tests.utils.doubles import FixedClock
from tests.utils.factories import GOOD_CUSTOMER as GOOD
from tests.utils.service import (
    TOKEN,
    TestClient,
    Trained,
    build,
    cache_object,
    dvc_config,
    flip_one_byte,
    git,
    local_remote,
    lock_text,
    promote,
)

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(settings: Settings) -> Iterator[TestClient]:
    """The app on ``settings`` with the real loader: the registry of ``repo``."""
    with TestClient(create_app(settings, clock=FixedClock(), handle_sighup=False)) as c:
        yield c


def unavailable(settings: Settings, **update: Any) -> str:
    """Start the app; it must answer 503 on /health and /predict; return the reason."""
    with TestClient(create_app(settings.model_copy(update=update), handle_sighup=False)) as client:
        r = client.get("/health")
        assert r.status_code == 503, r.text
        assert r.json()["status"] == "unavailable"
        p = client.post("/predict", json=GOOD)
        assert p.status_code == 503
        reason: str = r.json()["reason"]
        assert reason in p.json()["detail"]
    return reason


def assert_public(reason: str, *paths: Path) -> None:
    """One line, and no absolute server path: callers are unauthenticated."""
    assert "\n" not in reason
    for path in paths:
        assert str(path) not in reason and str(path.resolve()) not in reason, reason
    assert "/tmp" not in reason, reason


def registry_commit(repo: Path) -> str:
    commit = registry.read(repo).commit
    assert commit is not None
    return commit


# --------------------------------------------------------------------------- what is served


def test_health_names_prod_its_registry_and_the_commit_that_built_it(
    repo: Path, served: TestClient, logreg_model: Trained
) -> None:
    body = served.get("/health").json()
    assert body["model_version"] == logreg_model.md5
    assert body["built_by_commit"] == git(repo, "rev-parse", "main")
    assert body["registry_ref"] == "churnops/registry"
    assert body["registry_commit"] == registry_commit(repo)
    assert body["params"] == {"train.model": "logreg", "train.threshold": 0.5}  # the built-by commit's dvc.lock
    assert body["metrics"] == METRICS  # its metrics/evaluate.json
    assert "git_commit" not in body and "model_path" not in body


def _edit_work_tree(repo: Path, model: Trained) -> None:
    (repo / "models" / "model.json").write_bytes(model.data)
    (repo / "dvc.lock").write_text(lock_text(model))


def _stage(repo: Path, model: Trained) -> None:
    _edit_work_tree(repo, model)
    (repo / "metrics" / "evaluate.json").write_text('{"f1": 0.1}')
    git(repo, "add", "-A")


def _commit_on_main(repo: Path, model: Trained) -> None:
    build(repo, model, {"f1": 0.1})


def _switch_branch(repo: Path, model: Trained) -> None:
    git(repo, "switch", "-q", "-c", "experiment")
    build(repo, model, {"f1": 0.1})
    git(repo, "switch", "-q", "main")
    git(repo, "switch", "-q", "experiment")


def _delete(repo: Path, model: Trained) -> None:
    (repo / "models" / "model.json").unlink()
    (repo / "dvc.lock").unlink()


WORK_TREE_CHANGES: dict[str, Callable[[Path, Trained], None]] = {
    "edit-model-and-lock": _edit_work_tree,
    "uncommitted-staged-change": _stage,
    "commit-on-checked-out-branch": _commit_on_main,
    "switch-to-another-branch": _switch_branch,
    "delete-model-and-lock": _delete,
}


@pytest.mark.parametrize("change", WORK_TREE_CHANGES.values(), ids=WORK_TREE_CHANGES.keys())
def test_nothing_in_the_work_tree_changes_what_a_reload_serves(
    repo: Path, served: TestClient, logreg_model: Trained, logreg_model_b: Trained, change
) -> None:
    before = served.get("/health").json()
    predicted = served.post("/predict", json=GOOD).json()["churn_probability"]
    change(repo, logreg_model_b)
    lock = repo / "dvc.lock"
    assert not lock.exists() or read_locked_model(lock).md5 == logreg_model_b.md5  # the work tree now says B

    r = served.post("/admin/reload", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == logreg_model.md5 and r.json()["changed"] is False
    after = served.get("/health").json()
    keys = ("model_version", "built_by_commit", "registry_ref", "registry_commit", "params", "metrics")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    assert served.post("/predict", json=GOOD).json()["churn_probability"] == predicted


def test_moving_prod_in_the_registry_changes_what_a_reload_serves(
    repo: Path, served: TestClient, logreg_model: Trained, logreg_model_b: Trained
) -> None:
    first = served.get("/health").json()
    before = served.post("/predict", json=GOOD).json()
    git(repo, "switch", "-q", "-c", "candidate")
    commit_b = build(repo, logreg_model_b, {"f1": 0.7})
    git(repo, "switch", "-q", "main")  # the work tree records A again: only the registry says B
    promoted = promote(repo, logreg_model_b.md5, commit_b)

    r = served.post("/admin/reload", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "reloaded",
        "model_version": logreg_model_b.md5,
        "previous_version": logreg_model.md5,
        "changed": True,
        "workers": None,
    }
    health = served.get("/health").json()
    assert health["model_version"] == logreg_model_b.md5
    assert (health["built_by_commit"], health["registry_commit"]) == (commit_b, promoted)
    assert health["threshold"] == 0.4 and health["metrics"] == {"f1": 0.7}
    after = served.post("/predict", json=GOOD).json()
    assert after["model_version"] == logreg_model_b.md5
    assert after["churn_probability"] != before["churn_probability"]

    promote(repo, logreg_model.md5, first["built_by_commit"])  # a rollback is a move too
    assert served.post("/admin/reload", headers=AUTH).json()["model_version"] == logreg_model.md5


def test_the_registry_ref_setting_picks_the_registry(repo: Path, logreg_model: Trained, logreg_model_b) -> None:
    old = registry_commit(repo)
    commit_b = build(repo, logreg_model_b)
    promote(repo, logreg_model_b.md5, commit_b)
    git(repo, "update-ref", "refs/remotes/origin/churnops/registry", old)  # the team's registry, fetched
    assert RegistryModelLoader(repo).load().version == logreg_model_b.md5  # the local branch first
    theirs = RegistryModelLoader(repo, "origin/churnops/registry").load()
    assert (theirs.version, theirs.registry_ref, theirs.registry_commit) == (
        logreg_model.md5,
        "origin/churnops/registry",
        old,
    )
    git(repo, "branch", "-q", "-D", "churnops/registry")  # a clone with no local branch serves the remote's
    assert RegistryModelLoader(repo).load().registry_ref == "origin/churnops/registry"


# --------------------------------------------------------------------------- the model's bytes


def test_a_tampered_cache_object_is_refused(repo: Path, settings: Settings, logreg_model: Trained) -> None:
    flip_one_byte(cache_object(repo, logreg_model.md5))
    reason = unavailable(settings)
    assert reason.startswith(f"model {logreg_model.md5[:12]} (prod): the DVC cache's copy (.dvc/cache/files/md5/")
    assert "is corrupt" in reason and "delete it to have it fetched from the remote again" in reason
    assert_public(reason, repo)


def test_a_cache_outside_the_project_is_not_named_to_callers(
    repo: Path, settings: Settings, logreg_model: Trained, tmp_path: Path
) -> None:
    cache = tmp_path / "server-cache"
    shutil.copytree(repo / ".dvc" / "cache", cache)
    dvc_config(repo, cache=cache)
    flip_one_byte(cache_object(repo, logreg_model.md5, cache))
    reason = unavailable(settings)
    assert "the DVC cache's copy (…/" in reason and "is corrupt" in reason
    assert_public(reason, repo, cache)


def test_an_empty_cache_is_filled_from_the_dvc_remote(
    repo: Path, settings: Settings, logreg_model: Trained, tmp_path: Path
) -> None:
    shutil.rmtree(repo / ".dvc" / "cache")
    local_remote(repo, tmp_path / "remote", logreg_model)
    with TestClient(create_app(settings, handle_sighup=False)) as client:
        assert client.get("/health").json()["model_version"] == logreg_model.md5
    assert cache_object(repo, logreg_model.md5).read_bytes() == logreg_model.data


def test_an_empty_cache_with_no_remote_says_how_to_get_the_model(repo: Path, settings: Settings, logreg_model) -> None:
    shutil.rmtree(repo / ".dvc" / "cache")
    reason = unavailable(settings)
    built_by = git(repo, "rev-parse", "main")[:12]
    assert reason == (
        f"model {logreg_model.md5[:12]} (prod): not in the DVC cache, and no default DVC remote is configured: "
        "configure the DVC remote that holds it (`dvc remote add -d NAME URL`; a reload fetches it), "
        f"or rebuild it (`git switch --detach {built_by} && dvc repro && git switch -`)"
    )


def test_a_remote_without_the_model_says_so_without_its_path(
    repo: Path, settings: Settings, logreg_model: Trained, tmp_path: Path
) -> None:
    shutil.rmtree(repo / ".dvc" / "cache")
    remote = local_remote(repo, tmp_path / "remote")
    reason = unavailable(settings)
    assert "in neither the DVC cache nor the DVC remote 'storage' (…/remote)" in reason
    assert "push it from a clone that has it (`dvc push`)" in reason
    assert_public(reason, repo, remote)


# --------------------------------------------------------------------------- the registry and Git


def _hand_edit_registry(repo: Path, text: str) -> None:
    blob = git(repo, "hash-object", "-w", "--stdin", input=text)
    tree = git(repo, "mktree", input=f"100644 blob {blob}\tregistry.json\n")
    commit = git(repo, "commit-tree", tree, "-p", registry_commit(repo), "-m", "hand edit")
    git(repo, "update-ref", registry.REF, commit)


def _bad_md5(repo: Path, model: Trained) -> None:
    _hand_edit_registry(repo, '{"format": "churnops-registry/1", "stages": {"prod": {"commit": "0", "md5": "x"}}}')


REFUSALS: dict[str, tuple[Callable[[Path, Trained], Any], dict[str, Any], list[str]]] = {
    "no-registry": (
        lambda repo, _: git(repo, "branch", "-q", "-D", "churnops/registry"),
        {},
        ["no model registry yet (no churnops/registry branch, local or remote-tracking): run `churnops promote`"],
    ),
    "no-prod": (
        lambda repo, _: _hand_edit_registry(repo, registry.dumps(registry.State()).decode()),
        {},
        ["churnops/registry names no prod model: run `churnops promote`"],
    ),
    "malformed-registry": (
        _bad_md5,
        {},
        [
            "churnops/registry:registry.json: stages.prod.md5: expected 32 lowercase hex digits (got 'x')",
            "find the hand edit with `git log -p churnops/registry` and undo it",
        ],
    ),
    "unknown-ref": (
        lambda repo, _: None,
        {"registry_ref": "origin/churnops/registry"},
        [
            "registry ref 'origin/churnops/registry': no such branch or ref (set by --registry-ref or "
            "CHURNOPS_REGISTRY_REF; `git branch -a` lists them)"
        ],
    ),
    "built-by-commit-missing": (
        lambda repo, model: promote(repo, model.md5, "1" * 40),
        {},
        ["prod was built by commit 111111111111, which this repository does not have: run `git fetch`"],
    ),
    "built-by-commit-records-another-model": (
        lambda repo, model: promote(repo, model.md5, git(repo, "rev-parse", "main")),
        {},
        [
            "churnops/registry: prod names model",
            "but the dvc.lock of its commit",
            "`churnops promote` or `churnops rollback`",
        ],
    ),
    "remote-unreadable": (
        lambda repo, _: (shutil.rmtree(repo / ".dvc" / "cache"), dvc_config(repo, remote=repo.parent / "nowhere")),
        {},
        [
            "DVC remote 'storage' (…/nowhere): no such directory: "
            "fix the remote or its URL (`dvc remote list`), then reload"
        ],
    ),
    "not-a-git-work-tree": (
        lambda repo, _: shutil.rmtree(repo / ".git"),
        {},
        ["the served directory is not in a Git work tree, so it has no model registry: serve a clone of the project"],
    ),
    "not-a-dvc-project": (
        lambda repo, _: shutil.rmtree(repo / ".dvc"),
        {},
        ["no DVC cache to read models from", "serve the project's root, the directory holding .dvc/"],
    ),
}


@pytest.mark.parametrize(("damage", "update", "words"), REFUSALS.values(), ids=REFUSALS.keys())
def test_unavailable_says_why_and_what_to_run(
    repo: Path, settings: Settings, logreg_model_b: Trained, damage, update: dict[str, Any], words: list[str]
) -> None:
    damage(repo, logreg_model_b)
    reason = unavailable(settings, **update)
    for w in words:
        assert w in reason, reason
    assert_public(reason, repo)


def test_public_messages_keep_no_server_path(tmp_path: Path) -> None:
    root = tmp_path / "project"
    message = (
        f"{root}/.dvc/cache/files/md5/ab/cd: corrupt; remote 'r' (/srv/dvc/remote), "
        f"other file:///srv/x/y, s3://bucket/models/x, {root}: models/model.json HTTP/1.1 a / b"
    )
    assert public(message, root) == (
        ".dvc/cache/files/md5/ab/cd: corrupt; remote 'r' (…/remote), "
        "other …/y, s3://bucket/models/x, .: models/model.json HTTP/1.1 a / b"
    )


# --------------------------------------------------------------------------- reload


def test_failed_reload_keeps_the_old_model_and_says_why(repo: Path, served: TestClient, logreg_model) -> None:
    flip_one_byte(cache_object(repo, logreg_model.md5))
    r = served.post("/admin/reload", headers=AUTH)
    assert r.status_code == 409
    body = r.json()
    assert body["status"] == "failed"
    assert "is corrupt" in body["reason"]
    assert body["model_version"] == logreg_model.md5
    health = served.get("/health")
    assert health.status_code == 200
    assert health.json()["model_version"] == logreg_model.md5
    assert "is corrupt" in health.json()["last_reload_error"]
    assert served.post("/predict", json=GOOD).json()["model_version"] == logreg_model.md5


def test_reload_recovers_an_unavailable_service(repo: Path, settings: Settings, logreg_model: Trained) -> None:
    built_by = git(repo, "rev-parse", "main")
    git(repo, "branch", "-q", "-D", "churnops/registry")
    with TestClient(create_app(settings, handle_sighup=False)) as client:
        assert client.get("/health").status_code == 503
        assert client.post("/admin/reload", headers=AUTH).status_code == 409
        promote(repo, logreg_model.md5, built_by)
        r = client.post("/admin/reload", headers=AUTH)
        assert r.status_code == 200
        assert r.json()["previous_version"] is None
        assert client.get("/health").json()["model_version"] == logreg_model.md5


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Authorization": "Bearer "}, 401),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403),
        ({"Authorization": f"bearer {TOKEN}"}, 200),
    ],
    ids=["none", "basic", "empty", "wrong", "longer", "lowercase-scheme"],
)
def test_reload_authorization(client: TestClient, headers: dict[str, str], status: int) -> None:
    r = client.post("/admin/reload", headers=headers)
    assert r.status_code == status
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"


def test_reload_is_disabled_without_a_configured_token(settings: Settings) -> None:
    open_settings = settings.model_copy(update={"admin_token": None})
    with TestClient(create_app(open_settings, handle_sighup=False)) as client:
        r = client.post("/admin/reload", headers=AUTH)
        assert r.status_code == 404
        assert "CHURNOPS_ADMIN_TOKEN" in r.json()["detail"]


def test_in_flight_requests_keep_the_model_they_started_with(logreg_model: Trained, logreg_model_b: Trained) -> None:
    """A reload only rebinds ``state.current``; a reference taken before stays intact."""
    from churnops.pipeline.scorer import Scorer

    class Loader:
        def __init__(self) -> None:
            self.models = [logreg_model, logreg_model_b]

        def load(self) -> LoadedModel:
            t = self.models.pop(0)
            return LoadedModel(Scorer.from_bytes(t.data, t.md5), t.md5, "c" * 40, "churnops/registry", "d" * 40)

    state = ModelState(Loader())
    assert state.load_now().ok
    held = state.current
    assert held is not None
    started = threading.Event()
    results: list[float] = []

    def slow_request() -> None:
        started.set()
        for _ in range(200):
            results.append(held.scorer.predict_proba_one(GOOD))

    t = threading.Thread(target=slow_request)
    t.start()
    started.wait(5)
    outcome = asyncio.run(state.reload())
    t.join(5)
    assert outcome.ok and outcome.model_version == logreg_model_b.md5
    assert state.current is not held and held.version == logreg_model.md5
    assert len(set(results)) == 1  # every prediction of that request used the first model


def test_a_loader_error_never_escapes_as_an_exception() -> None:
    class Broken:
        def load(self) -> LoadedModel:
            raise LockfileError("dvc.lock: gone")

    state = ModelState(Broken())
    outcome = state.load_now()
    assert not outcome.ok and outcome.reason == "dvc.lock: gone"
    assert state.current is None and state.error == "dvc.lock: gone"


@pytest.mark.parametrize("hup_during_start_up", [True, False])
def test_a_sighup_during_start_up_is_acted_on_once_the_model_is_loaded(
    tmp_path: Path, served_model: LoadedModel, hup_during_start_up: bool
) -> None:
    """A reload asked before the handler exists is not lost: the registry may have moved after the first load."""
    import os
    import signal

    from tests.utils.doubles import NullLog

    loads: list[float] = []

    class CountingLoader:
        def load(self) -> LoadedModel:
            loads.append(1.0)
            return served_model

    previous = signal.getsignal(signal.SIGHUP)
    try:
        app = create_app(Settings(repo=tmp_path), loader=CountingLoader(), log=NullLog(), handle_sighup=True)
        if hup_during_start_up:
            os.kill(os.getpid(), signal.SIGHUP)  # before the lifespan: what a worker still starting up receives

        async def serve_briefly() -> None:
            async with app.router.lifespan_context(app):
                for _ in range(200):  # up to 2 s for the background reload
                    if len(loads) >= 2:
                        break
                    await asyncio.sleep(0.01)

        asyncio.run(serve_briefly())
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert len(loads) == (2 if hup_during_start_up else 1)
