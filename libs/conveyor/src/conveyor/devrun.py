"""``make run``: a local Redis (when CONVEYOR_REDIS_URL is unset) plus the three services.

Each service runs as its own process, exactly as its container would run it.
Every child runs in a process group of its own, so a terminal's Ctrl-C (SIGINT to
the foreground group) reaches only this launcher, which decides the order: the
services stop first (SIGTERM: each finishes its in-flight work), the embedded
server last, so no service loses its Redis while it stops. SIGTERM and SIGHUP
stop everything the same way. The embedded server keeps its data under
``.conveyor/redis`` so a restart keeps tasks, and comes back on the same port.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from conveyor.errors import ConfigurationError
from conveyor.localserver import LocalServer, free_port
from conveyor.settings import load_settings

SERVICES = ("ingest", "scheduler", "worker")
DATA_DIR = Path(".conveyor/redis")
KEY_FILE = Path(".conveyor/dev-jwt.key")
PREFERRED_PORT = 6390
STOP_GRACE = 30.0
READY_TIMEOUT = 90.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DEV_SCOPES = "tasks:write tasks:read schedules:write admin"

Children = dict[str, subprocess.Popen[bytes]]


class DevRunSettings(BaseSettings):
    """Settings of ``make run`` itself (``CONVEYOR_DEV_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_DEV_", extra="ignore", frozen=True)

    redis_port: int = Field(
        default=PREFERRED_PORT,
        ge=1,
        le=65535,
        description="Port of the embedded Redis/Valkey; another free one when it is taken.",
    )


class StopRequested(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived: stop everything in order.

    A BaseException, as KeyboardInterrupt is, so no ``except Exception`` swallows it.
    """


def main(argv: list[str] | None = None) -> int:
    """Start everything, wait for Ctrl-C (or a child that exits), then stop in order."""
    argparse.ArgumentParser(
        prog="python -m conveyor.devrun",
        description="make run: an embedded Redis/Valkey (unless CONVEYOR_REDIS_URL is set) "
        "and the three services; Ctrl-C stops the services, then the server.",
        epilog=f"Settings: CONVEYOR_DEV_REDIS_PORT (default {PREFERRED_PORT}) and the services'.",
    ).parse_args(argv)
    try:
        settings = load_settings(DevRunSettings)
    except ConfigurationError as exc:
        _say(str(exc))
        return 2
    for sig in STOP_SIGNALS:
        signal.signal(sig, _request_stop)
    env = dict(os.environ)
    server = None
    if not env.get("CONVEYOR_REDIS_URL"):
        server = LocalServer(DATA_DIR, port=free_port(settings.redis_port))
    children: Children = {}
    try:
        return _run(env, server, children)
    except StopRequested:
        return 0
    except ConfigurationError as exc:
        _say(str(exc))
        return 2
    finally:
        _stop(children, server)


def _run(env: dict[str, str], server: LocalServer | None, children: Children) -> int:
    """Start the server and the services; return when one of them exits (code 1)."""
    if server is not None:
        server.start()
        env["CONVEYOR_REDIS_URL"] = server.url
        _say(f"embedded Redis/Valkey at {server.url} (data in {DATA_DIR}/)")
    # One absolute key file for the token command and the API alike.
    env.setdefault("CONVEYOR_INGEST_JWT_KEY_FILE", str(KEY_FILE.resolve()))
    token = _dev_token(env)
    for name in SERVICES:
        children[name] = _spawn([sys.executable, "-m", f"conveyor_{name}"], env)
    origin = _api_origin(env)
    problem = _wait_until_ready(origin, children, server)
    if problem is None:
        _announce(origin, token, server)
        problem = _first_exit(children, server)
    _say(f"{problem}; stopping the rest")
    return 1


def _api_origin(env: dict[str, str]) -> str:
    """Where the API answers, from the settings ingest reads (a wildcard address: loopback)."""
    host = env.get("CONVEYOR_INGEST_HOST", "127.0.0.1")
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - recognised to be replaced, never bound
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{env.get('CONVEYOR_INGEST_PORT', '8080')}"


def _dev_token(env: dict[str, str]) -> str:
    """Mint a dev token with ingest's own CLI (it creates the dev key on first use)."""
    command = [sys.executable, "-m", "conveyor_ingest", "token", "--sub", "dev"]
    with _spawn([*command, "--scope", DEV_SCOPES], env, capture=True) as process:
        out, err = process.communicate(timeout=60)
    if process.returncode != 0:
        msg = f"minting the dev token failed: {err.decode().strip()}"
        raise ConfigurationError(msg)
    return out.decode().strip()


def _spawn(
    argv: list[str], env: dict[str, str], *, capture: bool = False
) -> subprocess.Popen[bytes]:
    """A child in its own process group: only this launcher decides when it stops."""
    pipe = subprocess.PIPE if capture else None
    return subprocess.Popen(  # noqa: S603 - our own interpreter and modules
        argv, env=env, stdin=subprocess.DEVNULL, stdout=pipe, stderr=pipe, process_group=0
    )


def _wait_until_ready(origin: str, children: Children, server: LocalServer | None) -> str | None:
    """None once the API answers /readyz; else what went wrong first."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        exited = _exited(children, server)
        if exited is not None:
            return exited
        try:
            with urllib.request.urlopen(f"{origin}/readyz", timeout=2) as answer:  # noqa: S310 - our own http URL
                if answer.status == 200:
                    return None
        except OSError:
            pass  # not listening yet, or not ready (503)
        time.sleep(0.1)  # polling the services' start-up
    return f"the API did not answer {origin}/readyz within {READY_TIMEOUT:.0f} s"


def _announce(origin: str, token: str, server: LocalServer | None) -> None:
    _say(f"ready: API at {origin}/api/v1 - press Ctrl-C to stop")
    _say("try it (a token for subject 'dev' with every scope, valid 24 h):")
    _show(
        f"curl -s -X POST {origin}/api/v1/tasks "
        f"-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
        """-d '{"type":"demo.echo","payload":{"hello":"world"}}'"""
    )
    if server is not None:
        _say("look inside the embedded server (docs/wire-format.md):")
        _show(f"redis-cli -p {server.port}")


def _first_exit(children: Children, server: LocalServer | None) -> str:
    """Block until a child exits (reaping none: each Popen reaps its own); say which."""
    while True:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        exited = _exited(children, server)
        if exited is not None:
            return exited


def _exited(children: Children, server: LocalServer | None) -> str | None:
    processes = dict(children)
    if server is not None and server.process is not None:
        processes["Redis/Valkey"] = server.process
    for name, process in processes.items():
        if process.poll() is not None:
            return f"{name} exited with status {process.returncode}"
    return None


def _stop(children: Children, server: LocalServer | None) -> None:
    """The services first (SIGTERM, SIGKILL after STOP_GRACE), then the server."""
    _ignore_stop_signals()
    running = {name: child for name, child in children.items() if child.poll() is None}
    if running:
        _say("stopping the services")
    for child in running.values():
        child.send_signal(signal.SIGTERM)
    for name, child in running.items():
        try:
            code = child.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            _say(f"{name} did not stop within {STOP_GRACE:.0f} s: killing it")
            child.kill()
            code = child.wait()
        if code not in (0, -signal.SIGTERM):  # -SIGTERM: stopped before it set its handler
            _say(f"{name} exited with status {code} while stopping")
    if server is not None and server.process is not None and server.process.poll() is None:
        _say("stopping Redis/Valkey")
        server.stop()
    _say("stopped")


def _request_stop(_signum: int, _frame: object) -> None:
    _ignore_stop_signals()
    raise StopRequested


def _ignore_stop_signals() -> None:
    """A second Ctrl-C (``make`` forwards one too) must not cut the ordered stop short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _say(text: str) -> None:
    print(f"conveyor: {text}", file=sys.stderr, flush=True)  # noqa: T201 - a launcher talks


def _show(command: str) -> None:
    print(command, flush=True)  # noqa: T201 - a line for the user to copy


if __name__ == "__main__":
    sys.exit(main())
