"""The `churnops` command's shared edge: usage errors, exit codes, --repo, flag bounds, `make help`."""

from __future__ import annotations

import argparse
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
from tests.utils.project import REPO_ROOT

REQUIRED = {"simulate": "--rows"}
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
    with pytest.raises(ParamsError, match=r"--repo .*: no churnops project here \(no dvc.yaml\).*--repo DIR"):
        common.project_root(tmp_path)
    with pytest.raises(ParamsError, match=r"--repo .*: no such directory"):
        common.project_root(tmp_path / "missing")
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


def test_readme_documents_the_exit_codes_of_every_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `churnops (\w+)` \|(.+)\|$", readme, re.M)
    assert sorted(name for name, _ in rows) == sorted(COMMANDS)
    for name, cells in rows:
        assert all(cell.strip() for cell in cells.split("|")[:1]), f"{name}: exit 0 undocumented"
