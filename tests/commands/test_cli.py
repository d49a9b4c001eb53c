"""The `churnops` command's shared edge: usage errors, exit codes, --repo, flag bounds, `make help`."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from churnops.cli import COMMANDS, main
from churnops.commands import common
from churnops.core.errors import ChurnopsError, GateError, ParamsError
from churnops.core.params import MonitorParams, TrafficParams
from tests.utils.project import REPO_ROOT, env, fixture_params
from tests.utils.project import run as run_cmd

REQUIRED = {"simulate": "--rows", "rollback": "VERSION|REV", "logs": "ACTION", "report": "--log"}
"""Commands whose required argument argparse reports before an unknown flag."""


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "culprit"),
    [
        ([], "COMMAND"),
        (["bogus"], "invalid choice: 'bogus'"),
        *[([name, "--no-such-flag"], REQUIRED.get(name, "--no-such-flag")) for name in COMMANDS],
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], culprit: str) -> None:
    assert main(argv) == common.USAGE
    line = one_line(capsys.readouterr().err)
    assert line.startswith("churnops") and culprit in line and "--help" in line


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == common.OK
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS) and "Exit codes" in out


def test_simulate_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    # 2: nothing listens on port 9 of 127.0.0.1 (discard), a usage problem: wrong URL or no service.
    assert main(["simulate", "--url", "http://127.0.0.1:9", "--rows", "3", "--timeout", "2"]) == common.USAGE
    assert "cannot reach the service" in one_line(capsys.readouterr().err)
    assert main(["simulate", "--rows", "-1"]) == common.USAGE
    assert "--rows" in one_line(capsys.readouterr().err)


@pytest.fixture
def stub_service():
    """A stand-in for the service on 127.0.0.1: ``/predict/batch`` answers ``status`` (200: one
    prediction per item). Yields (url, setter); stopped afterwards."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            items = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["items"]
            preds = [{"churn_probability": 0.25, "churn": False} for _ in items]
            body = json.dumps({"predictions": preds, "model_version": "stub"} if state["status"] == 200 else {})
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", lambda status: state.update(status=status)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_simulate_exit_0_and_1_against_a_service(stub_service, capsys: pytest.CaptureFixture[str]) -> None:
    url, answer = stub_service
    assert main(["simulate", "--url", url, "--rows", "7", "--batch", "3", "--timeout", "5"]) == common.OK
    assert capsys.readouterr().out.startswith("sent 7 customers in 3 request(s)")
    answer(500)
    assert main(["simulate", "--url", url, "--rows", "7", "--timeout", "5"]) == common.FAILURE
    assert "HTTP 500" in one_line(capsys.readouterr().err)


def test_exit_code_mapping() -> None:
    assert common.exit_code(ParamsError("x")) == common.USAGE
    assert common.exit_code(GateError("x")) == common.FAILURE
    assert common.exit_code(ChurnopsError("x")) == common.FAILURE
    assert common.exit_code(RuntimeError("a bug")) == common.FAILURE
    assert common.exit_code(KeyboardInterrupt()) == common.INTERRUPTED


def test_run_command_prints_one_line_and_keeps_tracebacks_for_bugs(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(args: argparse.Namespace) -> int:
        raise GateError("f1=0.6 < gate_f1=0.7")

    assert common.run_command("demo", refuse, argparse.Namespace()) == common.FAILURE
    assert one_line(capsys.readouterr().err) == "churnops demo: f1=0.6 < gate_f1=0.7"

    def bug(args: argparse.Namespace) -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        common.run_command("demo", bug, argparse.Namespace())


def test_flag_bounds_come_from_the_params_models() -> None:
    bounds = {type(m).__name__: m for m in MonitorParams.model_fields["last_n"].metadata}
    low, high = bounds["Ge"].ge, bounds["Le"].le
    parse = common.field_type(MonitorParams, "last_n")
    assert parse(str(low)) == low and parse(str(high)) == high
    for bad in (str(low - 1), str(high + 1), "1.5", "ten"):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(repr(bad))):
            parse(bad)
    seed = common.field_type(TrafficParams, "seed")
    assert seed("7") == 7
    with pytest.raises(argparse.ArgumentTypeError):
        seed("-1")


def test_repo_is_a_path_and_must_hold_a_project(tmp_path: Path) -> None:
    parser = common.ArgumentParser(prog="churnops demo")
    common.add_repo_argument(parser)
    assert parser.parse_args([]).repo == Path(".")
    assert parser.parse_args(["--repo", str(tmp_path)]).repo == tmp_path
    with pytest.raises(
        ParamsError, match=r"--repo .*: no churnops project found at .* \(no dvc.yaml or dvc.lock there\).*--repo PATH"
    ):
        common.project_root(tmp_path)
    with pytest.raises(ParamsError, match=r"--repo .*: no such directory"):
        common.project_root(tmp_path / "missing")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")  # a deployed copy that only serves
    assert common.project_root(tmp_path) == tmp_path.resolve()
    (tmp_path / "dvc.lock").unlink()
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    assert common.project_root(tmp_path) == tmp_path.resolve()


def _make_help(tty: bool) -> str:
    cmd = ["make", "-s", "--no-print-directory", "-C", str(REPO_ROOT), "help"]
    if not tty:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=30).stdout
    import pty

    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=child_fd, stderr=subprocess.DEVNULL)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(main_fd)
    return b"".join(chunks).decode()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "terminal"])
def test_make_help_is_aligned_and_coloured_only_on_a_terminal(tty: bool) -> None:
    out = _make_help(tty)
    assert ("\033[" in out) == tty
    plain = re.sub(r"\033\[[0-9;]*m", "", out).replace("\r", "")
    rows = [line for line in plain.splitlines() if line.strip()]
    makefile_targets = re.findall(r"^([a-zA-Z_-]+):.*## ", (REPO_ROOT / "Makefile").read_text(), re.M)
    assert [row.split()[0] for row in rows] == makefile_targets
    starts = {len(row) - len(row.lstrip()[len(row.split()[0]) :].lstrip()) for row in rows}
    assert len(starts) == 1, f"descriptions start at {sorted(starts)}:\n{plain}"


EXERCISED: dict[str, set[str]] = {
    "serve": {"0", "2"},  # test_serve_stops_cleanly_with_exit_0, test_serve_port_taken_..., test_serve_flags_...
    "monitor": {"0", "1", "2"},  # test_monitor_exit_codes_with_repo
    "simulate": {"0", "1", "2"},  # test_simulate_exit_codes, test_simulate_exit_0_and_1_against_a_service
    "models": {"0", "1", "2"},  # test_models_exit_codes
    "promote": {"0", "1", "2", "75"},  # test_promote_and_rollback_exit_codes
    "rollback": {"0", "1", "2", "75"},  # test_promote_and_rollback_exit_codes
    "feedback": {"0", "1", "2"},  # tests/pipeline/test_labeljoin.py::test_status_exit_codes_and_unreadable_labels
    "logs": {"0", "1", "2"},  # tests/commands/test_logs.py::test_ship_exit_codes
    "report": {"0", "1", "2"},  # tests/e2e/test_report_page.py::test_report_page_renders_offline_with_every_chart_drawn
}
"""The exit codes the tests of this file run each command into; the README documents exactly these."""


def test_readme_documents_the_exit_codes_of_every_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `churnops (\w+)` \|(.+)\|$", readme, re.M)
    assert sorted(name for name, _ in rows) == sorted(COMMANDS)
    for name, cells in rows:
        cells = [cell.strip() for cell in cells.split("|")]
        documented = {code for code, cell in zip(("0", "1", "2"), cells[:3], strict=True) if cell not in ("", "—")}
        documented |= set(re.findall(r"\*\*(\d+(?:\+N)?)\*\*", cells[3]))
        assert documented == EXERCISED[name], name


# Each documented exit code of each command (README, "Exit codes"), exercised. In-process
# where the code path allows it; a subprocess only for a real server's clean stop.


def test_every_command_takes_the_same_repo_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    helps = set()
    for name in COMMANDS:
        sub = common.ArgumentParser(prog=f"churnops {name}")
        importlib.import_module(f"churnops.commands.{name}").add_arguments(sub)
        actions = {a.dest: a for a in sub._actions}
        if name in ("simulate", "feedback", "logs"):  # they read only what their flags name, not a project
            assert "repo" not in actions
            continue
        repo = actions["repo"]
        assert repo.type is Path and repo.default == Path(".")
        helps.add(repo.help)
        if name == "models":  # the history is Git's: a work tree without dvc.yaml is fine, no Git is not
            assert main([name, "--repo", str(tmp_path / "missing")]) == common.USAGE
            assert (
                one_line(capsys.readouterr().err)
                == f"churnops models: --repo {tmp_path / 'missing'}: no such directory"
            )
            continue
        argv = [name, *(["v1"] if name == "rollback" else []), *(["--log", "x"] if name == "report" else [])]
        argv += ["--repo", str(tmp_path)]
        assert main(argv) == common.USAGE, name
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"churnops {name}: --repo {tmp_path}: no churnops project found"), line
    assert len(helps) == 1  # one meaning, one help text


def project(root: Path) -> Path:
    """The least a command accepts as a project: dvc.yaml and the test params."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "params.yaml").write_text(fixture_params())
    return root


def git_project(root: Path) -> Path:
    project(root)
    run_cmd(["git", "init", "-q", "-b", "main"], root)
    run_cmd(["git", "add", "-A"], root)
    run_cmd(["git", "commit", "-q", "-m", "initial"], root)
    return root


# serve: 0 stopped cleanly, 2 bad flag / no project / port taken.


@pytest.fixture
def serve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` exports its settings to os.environ for its workers; keep the test's own."""
    monkeypatch.setattr(os, "environ", dict(os.environ))


def test_serve_port_taken_is_one_line_naming_port_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], serve_env: None
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(["serve", "--repo", str(project(tmp_path)), "--port", str(port)])
    assert code == common.USAGE
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"churnops serve: --port {port}: cannot listen on 127.0.0.1:{port}"), line


def test_serve_flags_carry_the_settings_models_bounds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from churnops.service.settings import Settings

    low = {type(m).__name__: m for m in Settings.model_fields["max_body_bytes"].metadata}["Ge"].ge
    repo = str(project(tmp_path))
    assert main(["serve", "--repo", repo, "--max-body-bytes", str(low - 1)]) == common.USAGE
    line = one_line(capsys.readouterr().err)
    assert "--max-body-bytes" in line and f"greater than or equal to {low}" in line
    for flag, bad in (("--port", "65536"), ("--workers", "0"), ("--log-queue-lines", "0"), ("--port", "eighty")):
        assert main(["serve", "--repo", repo, flag, bad]) == common.USAGE
        assert flag in one_line(capsys.readouterr().err)


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:  # 503 without a model: it answers all the same
        return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_serve_stops_cleanly_with_exit_0(tmp_path: Path, sig: str) -> None:
    import signal
    import sys
    import time

    repo = project(tmp_path / "project")
    out = tmp_path / "serve.out"
    cmd = [sys.executable, "-m", "churnops.cli", "serve", "--repo", str(repo), "--port", "0",
           "--log-path", str(tmp_path / "p.jsonl")]  # fmt: skip
    with out.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env(), cwd=tmp_path)
        try:
            deadline = time.monotonic() + 60
            while "listening on" not in out.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "listening on" in out.read_text(), out.read_text()
            url = re.search(r"listening on (\S+)", out.read_text()).group(1)
            while not _answers(url + "/health") and time.monotonic() < deadline:  # signal handlers installed
                time.sleep(0.1)
            proc.send_signal(getattr(signal, sig))
            assert proc.wait(timeout=30) == common.OK, out.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


# monitor: 0 checked, 1 drift with --fail-on-drift, 2 bad input.


@pytest.fixture(scope="module")
def small_stats() -> dict:
    """Training statistics of a small unshifted sample (prepare's own function)."""
    from churnops.core.trainstats import to_json
    from churnops.pipeline.prepare import training_stats
    from tests.utils.factories import labelled_customers

    frame = labelled_customers(20_000, seed=7)
    return to_json(training_stats(frame))  # what prepare writes, as JSON values


def monitor_project(root: Path, stats: dict, shift: dict[str, float] | None = None) -> Path:
    """A project whose defaults (params.yaml's monitor.log, the stats) all resolve under it."""
    import json

    from churnops.core.io import write_jsonl
    from churnops.pipeline.generate import traffic_records

    project(root)
    (root / "data/prepared").mkdir(parents=True)
    (root / "data/prepared/train_stats.json").write_text(json.dumps(stats))
    (root / "data/traffic").mkdir(parents=True)
    write_jsonl(root / "data/traffic/predictions.jsonl", traffic_records(11, 400, shift=shift or {}))
    return root


def test_monitor_exit_codes_with_repo(
    tmp_path: Path, small_stats: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not a project: --repo alone decides where the defaults are
    drifted = monitor_project(tmp_path / "drifted", small_stats, shift={"tenure_months": -24})
    assert main(["monitor", "--repo", str(drifted)]) == common.OK  # drift found, not asked to fail
    out = capsys.readouterr().out
    assert out.startswith("status: drift") and f"params: {drifted / 'params.yaml'}" in out
    assert main(["monitor", "--repo", str(drifted), "--fail-on-drift"]) == common.FAILURE
    capsys.readouterr()
    empty = project(tmp_path / "empty")  # no log yet: too little data, exit 0
    (empty / "data/prepared").mkdir(parents=True)
    (empty / "data/prepared/train_stats.json").write_text((drifted / "data/prepared/train_stats.json").read_text())
    assert main(["monitor", "--repo", str(empty), "--fail-on-drift"]) == common.OK
    assert "insufficient_data" in capsys.readouterr().out
    high = {type(m).__name__: m for m in MonitorParams.model_fields["last_n"].metadata}["Le"].le
    assert main(["monitor", "--repo", str(drifted), "--last-n", str(high + 1)]) == common.USAGE
    assert f"argument --last-n: Input should be less than or equal to {high}" in one_line(capsys.readouterr().err)
    (empty / "data/prepared/train_stats.json").write_text("{not json")
    assert main(["monitor", "--repo", str(empty)]) == common.USAGE
    assert "train_stats.json" in one_line(capsys.readouterr().err)


# models: 0 listed, 1 a git command failed, 2 no project or not a Git work tree.


def test_models_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = git_project(tmp_path / "git")
    assert main(["models", "--repo", str(repo), "--json"]) == common.OK
    assert json.loads(capsys.readouterr().out) == {"prod": None, "versions": [], "events": []}
    assert main(["models", "--repo", str(repo), "--rev", "no-such-rev"]) == common.FAILURE
    assert "no-such-rev" in one_line(capsys.readouterr().err)
    not_git = tmp_path / "plain"
    not_git.mkdir()
    assert main(["models", "--repo", str(not_git)]) == common.USAGE
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"churnops models: --repo {not_git}: ") and "not inside a Git repository" in line


# promote and rollback: 0 done or already prod, 1 refused or failed (nothing changed), 2 usage or
# an unknown version, 75 repository busy (the real runs: tests/versioning/).


def test_promote_and_rollback_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import hashlib

    from churnops.versioning.git import repo_lock

    for key, value in env().items():  # in-process registry commits: a fixed identity
        if key.startswith("GIT_"):
            monkeypatch.setenv(key, value)
    repo = git_project(tmp_path / "git")
    run_cmd(["dvc", "init", "-q"], repo)
    model = b'{"format": "a model"}\n'
    md5 = hashlib.md5(model).hexdigest()
    obj = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(model)
    (repo / "dvc.lock").write_text(
        f"schema: '2.0'\nstages:\n  train:\n    outs:\n    - path: models/model.json\n      md5: {md5}\n"
    )
    run_cmd(["git", "add", "-A"], repo)
    run_cmd(["git", "commit", "-qm", "a model"], repo)

    assert main(["promote", "--force", "--repo", str(repo)]) == common.USAGE
    assert "--force needs --reason TEXT" in one_line(capsys.readouterr().err)
    assert main(["rollback", "HEAD~1", "--repo", str(repo)]) == common.USAGE  # the initial commit: no model
    assert "records no model" in one_line(capsys.readouterr().err)
    assert main(["rollback", "no-such-rev", "--repo", str(repo)]) == common.USAGE
    assert "no-such-rev" in one_line(capsys.readouterr().err)
    assert main(["rollback", "HEAD", "--repo", str(repo), "--wait", "-1"]) == common.USAGE
    assert "--wait" in one_line(capsys.readouterr().err)
    with repo_lock(repo, "churnops test holder", wait=0):
        for argv in (["promote"], ["rollback", "HEAD"]):
            assert main([*argv, "--repo", str(repo), "--wait", "0"]) == common.BUSY == 75
            line = one_line(capsys.readouterr().err)
            assert "churnops test holder" in line and "nothing was changed" in line
    assert main(["promote", "--repo", str(repo)]) == common.OK  # the first promotion
    assert f"prod is now model {md5[:12]}" in capsys.readouterr().out
    assert main(["promote", "--repo", str(repo)]) == common.OK
    assert "already prod" in capsys.readouterr().out
    assert main(["rollback", "HEAD", "--repo", str(repo)]) == common.OK
    assert "already prod" in capsys.readouterr().out
    # Another model at HEAD, with no verdict (no judge stage in its lock): refused, nothing changed.
    other = hashlib.md5(b"another").hexdigest()
    (repo / "dvc.lock").write_text((repo / "dvc.lock").read_text().replace(md5, other))
    run_cmd(["git", "commit", "-qam", "another model"], repo)
    assert main(["promote", "--repo", str(repo)]) == common.FAILURE
    line = one_line(capsys.readouterr().err)
    assert "has no verdict" in line and line.endswith("nothing was changed (--force --reason TEXT overrides it)")
    # Forced, but its bytes are nowhere: refused, nothing changed.
    assert main(["promote", "--force", "--reason", "test", "--repo", str(repo)]) == common.FAILURE
    line = one_line(capsys.readouterr().err)
    assert f"model {other[:12]}" in line and "no default DVC remote" in line and line.endswith("nothing was changed")
    assert main(["rollback", other[:8], "--repo", str(repo)]) == common.FAILURE
    assert "`--rebuild` reproduces it" in one_line(capsys.readouterr().err)


_WRITES_A_LOT = """
import sys
from churnops.commands.common import run_command

def run(args):
    for i in range(100_000):
        print(f"row {i} " + "x" * 60)
    return 0

sys.exit(run_command("models", run, None))
"""


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    """``churnops models | head``: the command stops quietly with 0, no traceback, no BrokenPipeError."""
    proc = subprocess.Popen(
        [shutil.which("python") or "python", "-c", _WRITES_A_LOT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(100)
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert first.startswith(b"row 0 ")
    assert err == "", err
