"""``make run`` (``python -m conveyor.devrun``) as a person uses it, as a real process.

Ctrl-C in a terminal is SIGINT to the whole foreground process group: the test
sends exactly that to the launcher's group and checks the stop is clean and in
order (services first, the embedded server last), and that a quick restart
gets the embedded server back on its port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor.localserver import free_port
from waiting import wait_for

READY = re.compile(r"^redis-cli -p (\d+)$", re.MULTILINE)  # the last line it prints when ready
START_WITHIN = 120.0
STOP_WITHIN = 90.0

pytestmark = pytest.mark.timeout(2 * (START_WITHIN + STOP_WITHIN))


@dataclass
class DevRun:
    """The launcher's process and the file its output (and its children's) goes to."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready_port(self) -> int:
        """Wait for the ready lines; the embedded server's port they name."""

        def port() -> int:
            found = READY.search(self.output())
            return int(found.group(1)) if found else 0

        return await wait_for(port, within=START_WITHIN, interval=0.1, what="the ready lines")

    async def ctrl_c(self) -> int:
        """SIGINT to the launcher's process group, as a terminal's Ctrl-C; its exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        await wait_for(
            lambda: self.process.poll() is not None, within=STOP_WITHIN, interval=0.1, what="exit"
        )
        return self.process.returncode


@contextmanager
def devrun(folder: Path, redis_port: int, log_name: str, **settings: str) -> Iterator[DevRun]:
    """``python -m conveyor.devrun`` in ``folder``, in a process group of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= settings | {
        "CONVEYOR_DEV_REDIS_PORT": str(redis_port),
        "CONVEYOR_INGEST_PORT": str(free_port()),
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_SCHEDULER_METRICS_PORT": "0",
        "CONVEYOR_LOG_FORMAT": "json",
    }
    log = folder / log_name
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "conveyor.devrun"],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    try:
        yield DevRun(process, log)
    finally:
        if process.poll() is None:  # the test failed half-way: stop it the ordered way
            process.send_signal(signal.SIGTERM)
            process.wait(STOP_WITHIN)


BAD_TEXT = ("Traceback", "stopping the rest", "while stopping")


def problems(output: str) -> list[str]:
    """Lines that a clean stop must not print: warnings, errors, tracebacks, early exits."""
    found = []
    for line in output.splitlines():
        level = json.loads(line).get("level") if line.startswith("{") else None
        if level in ("warning", "error", "critical") or any(bad in line for bad in BAD_TEXT):
            found.append(line)
    return found


async def test_ctrl_c_stops_the_services_first_and_redis_last_without_errors(
    tmp_path: Path,
) -> None:
    with devrun(tmp_path, free_port(), "run.log") as run:
        await run.ready_port()
        code = await run.ctrl_c()
    output = run.output()
    assert code == 0, output
    assert problems(output) == []
    lines = output.splitlines()
    services_stopped = [i for i, line in enumerate(lines) if '"service_stopped"' in line]
    assert len(services_stopped) == 3, output
    assert max(services_stopped) < lines.index("conveyor: stopping Redis/Valkey")
    assert lines[-1] == "conveyor: stopped"
    # The server never saw the Ctrl-C: the launcher stopped it with SIGTERM, last.
    server_log = (tmp_path / ".conveyor" / "redis" / "server.log").read_text()
    assert "Received SIGTERM" in server_log
    assert "Received SIGINT" not in server_log


async def test_a_quick_restart_gets_the_embedded_server_back_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    with devrun(tmp_path, port, "first.log") as first:
        assert await first.ready_port() == port
        # A redis-cli session left open: the server closes it at its stop, which leaves
        # a TIME_WAIT socket on the server's port for the next minute.
        session = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert await first.ctrl_c() == 0, first.output()
    assert session.recv(1) == b""  # closed by the server
    session.close()
    with devrun(tmp_path, port, "second.log") as second:
        assert await second.ready_port() == port, second.output()
        assert await second.ctrl_c() == 0, second.output()
    assert f"embedded Redis/Valkey at redis://127.0.0.1:{port}/0" in second.output()


async def test_a_service_that_exits_by_itself_stops_the_rest_and_fails_the_run(
    tmp_path: Path,
) -> None:
    with devrun(tmp_path, free_port(), "run.log", CONVEYOR_WORKER_HANDLERS="no_such_module") as run:
        await wait_for(
            lambda: run.process.poll() is not None, within=START_WITHIN, interval=0.1, what="exit"
        )
    output = run.output()
    assert run.process.returncode == 1, output
    assert "conveyor: worker exited with status 2; stopping the rest" in output.splitlines()
    assert "cannot import 'no_such_module'" in output
    assert output.splitlines()[-2:] == ["conveyor: stopping Redis/Valkey", "conveyor: stopped"]


def test_help_starts_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.devrun", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m conveyor.devrun")
    assert "CONVEYOR_DEV_REDIS_PORT" in result.stdout
    assert list(tmp_path.iterdir()) == []
