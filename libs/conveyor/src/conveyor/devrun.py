"""``make run``: a local Redis (when CONVEYOR_REDIS_URL is unset) plus the three services.

Each service runs as its own process, exactly as its container would run it.
Ctrl-C (or SIGTERM) stops the services, then the embedded server. The embedded
server keeps its data under ``.conveyor/redis`` so a restart keeps tasks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conveyor.localserver import LocalServer, free_port

SERVICES = ("ingest", "scheduler", "worker")
DATA_DIR = Path(".conveyor/redis")
KEY_FILE = Path(".conveyor/dev-jwt.key")
PREFERRED_PORT = 6390
STOP_GRACE = 30.0
DEV_SCOPES = "tasks:write tasks:read schedules:write admin"


def main() -> int:
    """Start everything, wait until a child exits or Ctrl-C, then stop everything."""
    server: LocalServer | None = None
    env = dict(os.environ)
    if not env.get("CONVEYOR_REDIS_URL"):
        server = LocalServer(DATA_DIR, port=_port()).start()
        env["CONVEYOR_REDIS_URL"] = server.url
        _say(f"embedded Redis/Valkey at {server.url} (data in {DATA_DIR}/)")
    # One absolute key file for the token command and the API alike.
    env.setdefault("CONVEYOR_INGEST_JWT_KEY_FILE", str(KEY_FILE.resolve()))
    token = _dev_token(env)
    children = [_spawn(name, env) for name in SERVICES]
    host = env.get("CONVEYOR_INGEST_HOST", "127.0.0.1")
    port = env.get("CONVEYOR_INGEST_PORT", "8080")
    _say(f"API at http://{host}:{port}/api/v1 - press Ctrl-C to stop")
    _say("try it (a token for subject 'dev' with every scope, valid 24 h):")
    print(  # noqa: T201 - the launcher's one line for the user to copy
        f"curl -s -X POST http://{host}:{port}/api/v1/tasks "
        f"-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
        """-d '{"type":"demo.echo","payload":{"hello":"world"}}'""",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        pid, status = os.wait()
        _say(f"process {pid} exited with status {status}; stopping the rest")
    except KeyboardInterrupt:
        _say("stopping")
    finally:
        _stop(children)
        if server is not None:
            server.stop()
    return 0


def _dev_token(env: dict[str, str]) -> str:
    """Mint a dev token with ingest's own CLI (it creates the dev key on first use)."""
    command = [
        sys.executable,
        "-m",
        "conveyor_ingest",
        "token",
        "--sub",
        "dev",
        "--scope",
        DEV_SCOPES,
    ]
    result = subprocess.run(  # noqa: S603 - fixed argv
        command, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def _port() -> int:
    with contextlib.suppress(OSError), socket.socket() as sock:
        sock.bind(("127.0.0.1", PREFERRED_PORT))
        return PREFERRED_PORT
    return free_port()


def _spawn(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", f"conveyor_{name}"], env=env)  # noqa: S603 - fixed argv


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            child.kill()


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _say(text: str) -> None:
    print(f"conveyor: {text}", file=sys.stderr, flush=True)  # noqa: T201 - a launcher talks


if __name__ == "__main__":
    sys.exit(main())
