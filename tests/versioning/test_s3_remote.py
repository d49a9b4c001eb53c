"""An S3 bucket as the DVC remote, on a real (local) S3 server: push, a fresh clone's pull, serving.

The server is moto's, on 127.0.0.1 (tests/utils/s3server.py); DVC and churnops talk to it through
the remote's ``endpointurl``, as they would to MinIO, Ceph or R2. Failures (a missing bucket,
refused credentials, an endpoint that is down) are one line naming the bucket or the endpoint and
the cause, and leave the work tree, the registry and the DVC cache as they were.
"""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from pathlib import Path

import pytest
import yaml

from tests.utils.docrun import parse_steps, run_steps
from tests.utils.project import REPO_ROOT, env, run
from tests.utils.s3server import enforced_auth, isolated, keys, make_bucket
from tests.utils.server import free_port, health_version, running_server
from tests.utils.workflow import History, cache_object, churnops, empty_cache, prod, registry_log, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "s3-test-token"
PREFIX = "churnops"
DOC = REPO_ROOT / "docs" / "remote-storage.md"
SECTION = "## A team: an S3-compatible bucket"
AWS_IDENTITY = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION")


def use_s3(project: Path, bucket: str, endpoint: str) -> str:
    """Make ``s3://bucket/churnops`` on ``endpoint`` the default remote, committed; its URL."""
    url = f"s3://{bucket}/{PREFIX}"
    run(["dvc", "remote", "add", "-d", "s3remote", url], project)
    run(["dvc", "remote", "modify", "s3remote", "endpointurl", endpoint], project)
    run(["git", "commit", "-q", "-am", "dvc: S3 remote"], project)
    return url


def outputs(project: Path) -> dict[str, str]:
    """Every file output dvc.lock records (directories expanded), with the md5 of its bytes in ``project``."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    paths = {out["path"] for stage in lock["stages"].values() for out in stage.get("outs") or []}
    files: dict[str, str] = {}
    for rel in sorted(paths):
        target = project / rel
        for f in sorted(target.rglob("*")) if target.is_dir() else [target]:
            if f.is_file():
                files[f.relative_to(project).as_posix()] = hashlib.md5(f.read_bytes()).hexdigest()
    return files


def cache_files(project: Path) -> set[str]:
    cache = project / ".dvc" / "cache"
    return {p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()}


def test_push_then_a_fresh_clone_pulls_the_model_data_and_metrics(
    built_project: Path, s3_endpoint: str, s3_bucket: str, s3_credentials: dict[str, str], tmp_path: Path
) -> None:
    origin = built_project
    use_s3(origin, s3_bucket, s3_endpoint)
    assert "pushed" in run(["dvc", "push"], origin).stdout
    stored = keys(s3_endpoint, s3_bucket)
    model = outputs(origin)["models/model.json"]
    assert f"{PREFIX}/files/md5/{model[:2]}/{model[2:]}" in stored
    assert all(k.startswith(f"{PREFIX}/files/md5/") for k in stored)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not (clone / ".dvc" / "cache").exists() and not (clone / "models" / "model.json").exists()
    run(["dvc", "pull"], clone)
    pulled = outputs(clone)
    assert pulled == outputs(origin)
    assert "models/model.json" in pulled
    assert any(p.startswith("data/") for p in pulled) and any(p.startswith("metrics/") for p in pulled)
    assert "up to date" in run(["dvc", "status"], clone).stdout


def test_a_deployment_pushes_prod_to_the_bucket_and_a_fresh_clone_serves_it(
    history: History, s3_endpoint: str, s3_bucket: str, s3_credentials: dict[str, str], tmp_path: Path
) -> None:
    origin = history.root
    use_s3(origin, s3_bucket, s3_endpoint)
    run(["dvc", "push"], origin)  # HEAD's outputs: v2's model, not v1's
    v1_key = f"{PREFIX}/files/md5/{history.v1[:2]}/{history.v1[2:]}"
    assert v1_key not in keys(s3_endpoint, s3_bucket)
    proc = churnops(origin, "rollback", "v1")
    assert proc.returncode == 0, proc.stderr
    assert v1_key in keys(s3_endpoint, s3_bucket)  # pushed by the deployment, before prod moved

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    with running_server(clone, tmp_path / "service" / "predictions.jsonl", token=TOKEN) as (url, _):
        assert health_version(url) == history.v1  # fetched from the bucket by md5, verified
    assert cache_object(clone, history.v1).is_file()
    assert not (clone / "models" / "model.json").exists()  # the work tree was never involved


DVC_WORDS = {
    "bucket missing": "The specified bucket does not exist",
    "access denied": "The AWS Access Key Id you provided does not exist in our records",
    "endpoint down": "Could not connect to the endpoint URL",
}
"""What ``dvc push`` itself says (docs/remote-storage.md quotes it)."""


def failure_cases(endpoint: str, bucket: str) -> dict[str, tuple[str, str, str]]:
    """name -> (remote URL, endpoint, the cause churnops names)."""
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    url = f"s3://{bucket}/{PREFIX}"
    return {
        "bucket missing": (f"s3://no-such-{bucket}/{PREFIX}", endpoint, f"bucket 'no-such-{bucket}' does not exist"),
        "access denied": (url, endpoint, f"access to bucket '{bucket}' denied (HTTP 403)"),
        "endpoint down": (url, down, f"endpoint {down} is down or unreachable (connection refused)"),
    }


@pytest.mark.parametrize("case", ["bucket missing", "access denied", "endpoint down"])
def test_a_failing_bucket_is_one_line_naming_it_and_nothing_local_changes(
    case: str,
    history: History,
    s3_endpoint: str,
    s3_bucket: str,
    s3_credentials: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deployment whose model must go to the bucket (it is cached) warns in one line and goes ahead;
    one whose model must come from it (the cache is empty) stops in one line. Nothing local is lost."""
    p = history.root
    url, endpoint, cause = failure_cases(s3_endpoint, s3_bucket)[case]
    run(["dvc", "remote", "add", "-d", "s3remote", url], p)
    run(["dvc", "remote", "modify", "s3remote", "endpointurl", endpoint], p)
    run(["git", "commit", "-q", "-am", "dvc: an S3 remote that fails"], p)
    # botocore's backoff retries a refused connection for ~9 s; one attempt says the same
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    named = f"DVC remote 's3remote' ({url} at {endpoint}): {cause}"

    with enforced_auth(s3_endpoint) if case == "access denied" else nullcontext():
        work_tree, cached = snapshot(p), cache_files(p)
        dvc_push = run(["dvc", "push"], p, check=False)
        assert dvc_push.returncode != 0 and DVC_WORDS[case] in dvc_push.stderr, dvc_push.stderr
        assert (snapshot(p), cache_files(p)) == (work_tree, cached)
        pushed = churnops(p, "rollback", "v1")  # v1 is cached: sending it to the bucket fails
        assert pushed.returncode == 0, pushed.stderr  # an incident's rollback does not wait for storage
        warning = pushed.stderr.strip()
        assert "\n" not in warning and warning.startswith(f"warning: {named}"), warning
        assert f": model {history.v1[:12]} is not on the remote" in warning
        assert prod(p) == history.v1
        assert (snapshot(p), cache_files(p)) == (work_tree, cached)

        empty_cache(p)
        before = snapshot(p), registry_log(p)
        fetched = churnops(p, "rollback", "v2")  # v2 is now nowhere but the bucket: fetching it fails
    assert fetched.returncode == 1, fetched.stderr
    error = fetched.stderr.strip()
    assert "Traceback" not in error and "\n" not in error, fetched.stderr
    assert error.startswith(f"churnops rollback: {named}") and error.endswith("; nothing was changed"), error
    assert (snapshot(p), registry_log(p)) == before
    assert prod(p) == history.v1


def test_no_credentials_anywhere_is_one_line_saying_where_they_come_from(
    built_project: Path, s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's fetch (what the service and a rollback call), in-process, with no AWS key anywhere."""
    from churnops.core.errors import RemoteError
    from churnops.versioning import store

    p = built_project
    url = use_s3(p, s3_bucket, s3_endpoint)
    md5 = outputs(p)["models/model.json"]
    empty_cache(p)
    for name in AWS_IDENTITY:
        monkeypatch.delenv(name, raising=False)
    for key, value in isolated(tmp_path / "aws").items():
        monkeypatch.setenv(key, value)
    with pytest.raises(RemoteError) as err:
        store.ensure(p, md5, "model")
    assert str(err.value) == (
        f"DVC remote 's3remote' ({url} at {s3_endpoint}): no credentials for bucket '{s3_bucket}': "
        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or `dvc remote modify --local s3remote access_key_id ...`"
    )
    assert not cache_object(p, md5).exists()


def test_the_documents_s3_steps_work(
    built_project: Path, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/remote-storage.md's S3 section, run as written. No AWS key is in the environment, so the
    push can only have used the ``--local`` secrets, and the clone's pull only its own environment."""
    text = DOC.read_text()
    start = text.index(SECTION)
    steps = parse_steps(text[start : text.index("\n## ", start)])
    assert sum("dvc remote modify --local" in step.command for step in steps) == 2
    make_bucket(s3_endpoint, "churnops-dvc")
    for name in AWS_IDENTITY:  # (and the document sets the remote's region itself)
        monkeypatch.delenv(name, raising=False)
    document = {"S3_ENDPOINT": s3_endpoint, "S3_KEY_ID": "doc-key", "S3_SECRET": "doc-secret"}
    e = {**env(), **isolated(tmp_path / "aws"), **document}
    run_steps(steps, built_project, e, timeout=120)

    clone = built_project.parent / "fresh-clone"
    assert outputs(clone) == outputs(built_project)
    assert not (clone / ".dvc" / "config.local").exists()
    model = outputs(built_project)["models/model.json"]
    assert f"{PREFIX}/files/md5/{model[:2]}/{model[2:]}" in keys(s3_endpoint, "churnops-dvc")
