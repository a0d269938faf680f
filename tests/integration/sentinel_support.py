"""Shared parts of the Sentinel tests (plain and TLS): the set-up and its probes.

A set-up is a primary, a replica and three Sentinels watching ``SERVICE``; with
``client_files`` every process speaks TLS only and probes use those files.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.connection import ReplicaWait
from conveyor.localserver import LocalSentinel, LocalServer, TlsFiles
from conveyor_worker.testing import xrange
from e2e.e2e_harness import api_session, run_across_failover, running_services
from waiting import wait_for

SERVICE = "conveyor-primary"


async def until(probe: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """waiting.wait_for with a 0.1 s interval (its value-or-awaitable union defeats mypy)."""
    await wait_for(probe, within=within, interval=0.1, what=what)


def server_kinds() -> list[str]:
    """redis and valkey, narrowed by CONVEYOR_TEST_SERVERS like the session fixture."""
    wanted = os.environ.get("CONVEYOR_TEST_SERVERS", "redis,valkey").split(",")
    return [kind for kind in ("redis", "valkey") if kind in wanted]


def sentinel_environment(
    sentinels: str, *, tls: bool, files: TlsFiles | None = None
) -> dict[str, str]:
    """The Redis variables of a service behind ``sentinels`` (the URL's host is ignored;
    its scheme turns TLS on, ``files`` are the client's CA, certificate and key)."""
    environment = {
        "CONVEYOR_REDIS_URL": f"{'rediss' if tls else 'redis'}://ignored:6379/0",
        "CONVEYOR_REDIS_SENTINELS": sentinels,
        "CONVEYOR_REDIS_SENTINEL_SERVICE": SERVICE,
    }
    if files is not None:
        environment["CONVEYOR_REDIS_TLS_CA_FILE"] = str(files.ca)
        environment["CONVEYOR_REDIS_TLS_CERT_FILE"] = str(files.cert)
        environment["CONVEYOR_REDIS_TLS_KEY_FILE"] = str(files.key)
    return environment


@dataclass
class HaSetup:
    """The processes of one Sentinel set-up (and the client's TLS files, if it uses TLS)."""

    primary: LocalServer
    replica: LocalServer
    sentinels: list[LocalSentinel]
    client_files: TlsFiles | None = None

    @property
    def sentinel_list(self) -> str:
        """CONVEYOR_REDIS_SENTINELS value."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def environment(self) -> dict[str, str]:
        """The Redis variables of a service of this set-up."""
        files = self.client_files
        return sentinel_environment(self.sentinel_list, tls=files is not None, files=files)

    def direct(self, port: int) -> Redis:
        """A client of one process (for probes, not through the Sentinels)."""
        files = self.client_files
        if files is None:
            return Redis(port=port, decode_responses=True)
        return Redis(
            port=port,
            ssl=True,
            ssl_ca_certs=str(files.ca),
            ssl_certfile=str(files.cert),
            ssl_keyfile=str(files.key),
            decode_responses=True,
        )


async def sentinels_ready(ha: HaSetup) -> bool:
    """Every Sentinel knows the replica and the two other Sentinels (needed to fail over)."""
    for sentinel in ha.sentinels:
        async with ha.direct(sentinel.port) as client:
            replicas = await client.execute_command("SENTINEL", "REPLICAS", SERVICE)
            others = await client.execute_command("SENTINEL", "SENTINELS", SERVICE)
        if len(replicas) != 1 or len(others) != 2:
            return False
    return True


async def replica_in_sync(ha: HaSetup) -> bool:
    """Whether the replica's link to the primary is up."""
    async with ha.direct(ha.replica.port) as client:
        info = await client.info("replication")
    return info.get("master_link_status") == "up"


async def primary_port(ha: HaSetup) -> int:
    """The primary's port as the first Sentinel names it."""
    async with ha.direct(ha.sentinels[0].port) as client:
        _, port = await client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
    return int(port)


async def write_and_wait(client: Redis, stream: str, wait: ReplicaWait) -> bytes:
    """XADD and WAIT in one pipeline (WAIT counts this connection's writes); the entry id."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.xadd(stream, {"type": "demo.echo"})
        wait.append(pipe)
        replies = await pipe.execute(raise_on_error=False)
    wait.check(replies[1:])
    entry_id: bytes = replies[0]
    return entry_id


async def write_through_failover(ha: HaSetup, client: Redis, stream: str) -> None:
    """A write the replica acknowledged, SIGKILL of the primary, then a write on the new one.

    The same client object follows the Sentinels to the promoted replica, and the write
    acknowledged before the crash is still there.
    """
    await until(lambda: replica_in_sync(ha), 30, "replica in sync")
    before = await write_and_wait(client, stream, ReplicaWait(replicas=1, timeout_ms=3000))
    await until(lambda: sentinels_ready(ha), 30, "sentinels know each other")

    ha.primary.kill()

    async def write_succeeds() -> bool:
        try:
            await client.xadd(stream, {"type": "demo.echo"})
        except redis_errors.RedisError:
            return False  # refused, read-only replica or no primary yet: try again
        return True

    await until(write_succeeds, 45, "a write after the failover")
    assert await primary_port(ha) == ha.replica.port
    assert (await client.execute_command("ROLE"))[0] == b"master"
    entries = await xrange(client, stream)
    assert [entry_id for entry_id, _ in entries][:1] == [before]
    assert len(entries) == 2


async def services_carry_on_after_the_primary_dies(ha: HaSetup, tmp_path: Path) -> None:
    """ingest, worker and scheduler as processes behind the Sentinels: the primary gets
    SIGKILL and the same processes accept, run and retry tasks on the promoted replica."""
    environment = {**ha.environment(), "CONVEYOR_KEY_PREFIX": f"t{secrets.token_hex(4)}"}
    url = environment["CONVEYOR_REDIS_URL"]
    with running_services(tmp_path, url, environment) as deployment:
        async with api_session(deployment) as http:

            async def kill_primary() -> None:
                await until(lambda: sentinels_ready(ha), 30, "sentinels know each other")
                ha.primary.kill()

            await run_across_failover(http, kill_primary)
            assert await primary_port(ha) == ha.replica.port
    for name, path in deployment.logs.items():
        assert "Traceback" not in path.read_text(errors="replace"), f"{name} crashed"
