"""Which model is served: only the one dvc.lock records, verified; reloads swap it atomically."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from churnops.core.errors import LockfileError
from churnops.service.app import create_app
from churnops.service.loader import LoadedModel, RepoModelLoader
from churnops.service.settings import Settings
from churnops.service.state import ModelState
from tests.utils.factories import GOOD_CUSTOMER as GOOD
from tests.utils.service import TOKEN, TestClient, Trained, write_repo

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def flip_one_byte(path: Path, offset: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_tampered_model_is_refused(repo: Path, settings: Settings) -> None:
    flip_one_byte(repo / "models" / "model.json")
    with TestClient(create_app(settings, handle_sighup=False)) as client:
        r = client.get("/health")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable"
        assert "does not match" in body["reason"] and "dvc.lock" in body["reason"]
        assert "run `dvc checkout models/model.json`" in body["reason"]  # the fix, not just the fault
        p = client.post("/predict", json=GOOD)
        assert p.status_code == 503
        assert "does not match" in p.json()["detail"]
        # Callers are unauthenticated: no server path in what they see.
        assert str(repo) not in body["reason"] and str(repo) not in p.json()["detail"]
        assert body["reason"].startswith("models/model.json: md5 ")
        assert client.post("/predict/batch", json={"items": [GOOD]}).status_code == 503


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda repo: ((repo / "dvc.lock").unlink(), (repo / "dvc.yaml").write_text("stages: {}\n")), "not found"),
        (lambda repo: (repo / "dvc.lock").unlink(), "no churnops project at the served path"),
        (lambda repo: (repo / "dvc.lock").write_text("stages: [unclosed"), "not valid YAML"),
        (lambda repo: (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n"), "records no models/model.json"),
        (lambda repo: (repo / "models" / "model.json").unlink(), "model file not found"),
    ],
    ids=["no-lock", "no-project", "bad-yaml", "no-model-in-lock", "no-model-file"],
)
def test_unavailable_says_why(repo: Path, settings: Settings, damage, words: str) -> None:
    damage(repo)
    with TestClient(create_app(settings, handle_sighup=False)) as client:
        r = client.get("/health")
        assert r.status_code == 503
        reason = r.json()["reason"]
        assert words in reason
        assert str(repo) not in reason and str(repo.resolve()) not in reason


def test_loader_refuses_a_model_whose_lock_hash_differs(repo: Path, logreg_model_b: Trained) -> None:
    (repo / "models" / "model.json").write_bytes(logreg_model_b.data)  # a valid model, not the accepted one
    with pytest.raises(Exception, match="does not match"):
        RepoModelLoader(repo).load()


def test_loader_reports_the_git_commit_once(tmp_path: Path, logreg_model: Trained) -> None:
    from tests.utils.project import run

    repo = write_repo(tmp_path / "repo", logreg_model)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "model"], repo)
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    assert RepoModelLoader(repo).load().git_commit == head


# --------------------------------------------------------------------------- reload


def test_reload_swaps_in_the_new_model(repo: Path, client: TestClient, logreg_model: Trained, logreg_model_b) -> None:
    before = client.post("/predict", json=GOOD).json()
    write_repo(repo, logreg_model_b)
    r = client.post("/admin/reload", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "reloaded",
        "model_version": logreg_model_b.md5,
        "previous_version": logreg_model.md5,
        "changed": True,
        "workers": None,
    }
    health = client.get("/health").json()
    assert health["model_version"] == logreg_model_b.md5
    assert health["threshold"] == 0.4
    after = client.post("/predict", json=GOOD).json()
    assert after["model_version"] == logreg_model_b.md5
    assert after["churn_probability"] != before["churn_probability"]


def test_failed_reload_keeps_the_old_model_and_says_why(repo: Path, client: TestClient, logreg_model) -> None:
    flip_one_byte(repo / "models" / "model.json")
    r = client.post("/admin/reload", headers=AUTH)
    assert r.status_code == 409
    body = r.json()
    assert body["status"] == "failed"
    assert "does not match" in body["reason"]
    assert body["model_version"] == logreg_model.md5
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["model_version"] == logreg_model.md5
    assert "does not match" in health.json()["last_reload_error"]
    assert client.post("/predict", json=GOOD).json()["model_version"] == logreg_model.md5


def test_reload_recovers_an_unavailable_service(repo: Path, settings: Settings, logreg_model: Trained) -> None:
    good = (repo / "models" / "model.json").read_bytes()
    flip_one_byte(repo / "models" / "model.json")
    with TestClient(create_app(settings, handle_sighup=False)) as client:
        assert client.get("/health").status_code == 503
        assert client.post("/admin/reload", headers=AUTH).status_code == 409
        (repo / "models" / "model.json").write_bytes(good)
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
            return LoadedModel(Scorer.from_bytes(t.data, t.md5), t.md5, "models/model.json")

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
