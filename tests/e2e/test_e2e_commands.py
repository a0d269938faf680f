"""Every console script answers --help, --version and a wrong argument without connecting.

The scripts are found in the ``[project.scripts]`` of every pyproject in the
repository and run as the installed commands, with CONVEYOR_REDIS_URL pointing at
a loopback port that this test listens on: any connection attempt is counted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 60.0


def _console_scripts() -> dict[str, str]:
    """Script name -> distribution name, from every pyproject in the repository."""
    scripts: dict[str, str] = {}
    for pyproject in ROOT.glob("**/pyproject.toml"):
        if any(part.startswith(".") for part in pyproject.relative_to(ROOT).parts):
            continue  # .venv, .tools: installed packages, not ours
        project = tomllib.loads(pyproject.read_text())["project"]
        for script in project.get("scripts", {}):
            scripts[script] = project["name"]
    return scripts


SCRIPTS = _console_scripts()
# The operator CLI is a click program (the services use argparse): its usage line is
# "Usage: ..." and its error names the option its own way; the rest is the same.
CLICK_SCRIPTS = {"conveyor"}


@contextmanager
def listening_port() -> Iterator[socket.socket]:
    """A loopback socket that listens and never answers: connections queue up to be counted."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def connections(sock: socket.socket) -> int:
    """How many connections reached ``sock`` (accepting each, so each counts once)."""
    count = 0
    while True:
        try:
            accepted, _ = sock.accept()
        except BlockingIOError:
            return count
        accepted.close()
        count += 1


def run(script: str, *args: str, redis_port: int) -> subprocess.CompletedProcess[str]:
    """Run the installed console script with Redis pointed at ``redis_port``."""
    env = {**os.environ, "CONVEYOR_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    command = [str(Path(sys.executable).parent / script), *args]
    return subprocess.run(  # noqa: S603 - our own installed command
        command, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )


def test_the_three_services_are_among_the_scripts_found() -> None:
    assert {"conveyor-ingest", "conveyor-worker", "conveyor-scheduler"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_prints_usage_and_connects_to_nothing(script: str) -> None:
    with listening_port() as sock:
        result = run(script, "--help", redis_port=sock.getsockname()[1])
        assert connections(sock) == 0
    assert result.returncode == 0, result.stderr
    assert result.stdout.lower().startswith(f"usage: {script} ")
    assert "--version" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_version_prints_the_package_version_and_connects_to_nothing(script: str) -> None:
    with listening_port() as sock:
        result = run(script, "--version", redis_port=sock.getsockname()[1])
        assert connections(sock) == 0
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{script} {version(SCRIPTS[script])}\n"
    assert result.stderr == ""


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_unknown_argument_gets_a_usage_line_and_exit_code_2(script: str) -> None:
    with listening_port() as sock:
        result = run(script, "--no-such-option", redis_port=sock.getsockname()[1])
        assert connections(sock) == 0
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].lower().startswith(f"usage: {script} ")
    if script in CLICK_SCRIPTS:
        assert lines[-1] == "Error: No such option '--no-such-option'."
    else:
        assert len(lines) == 2
        assert lines[1] == f"{script}: error: unrecognized arguments: --no-such-option"


def test_ingest_token_help_is_the_token_command_s_own() -> None:
    with listening_port() as sock:
        result = run("conveyor-ingest", "token", "--help", redis_port=sock.getsockname()[1])
        assert connections(sock) == 0
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: conveyor-ingest token ")
    assert "--sub" in result.stdout


@pytest.mark.parametrize("script", ["conveyor-ingest", "conveyor-scheduler", "conveyor-worker"])
def test_a_service_that_cannot_reach_redis_exits_1_with_one_line(script: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: every connect is refused
        result = run(script, redis_port=closed.getsockname()[1])
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: cannot reach Redis")
    assert "CONVEYOR_REDIS_URL" in last
