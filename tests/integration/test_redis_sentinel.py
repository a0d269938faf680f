"""Sentinel HA: a primary, a replica and three Sentinels; the primary is killed.

The client built from CONVEYOR_REDIS_SENTINELS asks the Sentinels for the
primary; after kill -9 of the primary the Sentinels promote the replica and the
same client writes to it without being rebuilt. WAIT (through ReplicaWait) is
what guarantees the write acknowledged before the crash is on the new primary.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.connection import ReplicasBehindError, ReplicaWait, check_server, create_client
from conveyor.errors import ConfigurationError
from conveyor.keys import Keys
from conveyor.localserver import LocalSentinel, LocalServer, ServerKind
from conveyor.settings import RedisSettings, load_settings
from conveyor_ingest.app import create_app
from conveyor_ingest.settings import IngestSettings
from conveyor_ingest.tokens import mint_token
from conveyor_worker.testing import xrange
from integration.sentinel_support import (
    SERVICE,
    HaSetup,
    replica_in_sync,
    server_kinds,
    services_carry_on_after_the_primary_dies,
    until,
    write_and_wait,
    write_through_failover,
)


@pytest.fixture(params=server_kinds())
def ha(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HaSetup]:
    """Primary + replica + three Sentinels (quorum 2, 1 s down-after) of each server kind."""
    kind: ServerKind = request.param
    started: list[LocalServer | LocalSentinel] = []
    try:
        # No 5 s diskless-sync delay: the replica is in sync a moment after it starts.
        quick_sync = ["--repl-diskless-sync-delay", "0"]
        primary = LocalServer(tmp_path / "primary", kind=kind, extra_args=quick_sync).start()
        started.append(primary)
        replica_args = ["--replicaof", "127.0.0.1", str(primary.port)]
        replica = LocalServer(tmp_path / "replica", kind=kind, extra_args=replica_args).start()
        started.append(replica)
        sentinels = []
        for index in range(3):
            sentinel = LocalSentinel(
                tmp_path / f"sentinel{index}", primary.port, service=SERVICE, kind=kind
            ).start()
            started.append(sentinel)
            sentinels.append(sentinel)
        yield HaSetup(primary, replica, sentinels)
    finally:
        for process in reversed(started):
            process.stop()


def _settings(monkeypatch: pytest.MonkeyPatch, ha: HaSetup) -> RedisSettings:
    for name, value in ha.environment().items():
        monkeypatch.setenv(name, value)
    return load_settings(RedisSettings)


async def test_client_follows_the_primary_through_a_sentinel_failover(
    ha: HaSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = create_client(_settings(monkeypatch, ha))
    stream = Keys(f"t{secrets.token_hex(4)}").queue("default").tasks
    try:
        await check_server(client)
        await write_through_failover(ha, client, stream)
    finally:
        await client.aclose()


async def test_replica_wait_raises_when_fewer_replicas_acknowledge(
    ha: HaSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = create_client(_settings(monkeypatch, ha))
    stream = Keys(f"t{secrets.token_hex(4)}").queue("default").tasks
    try:
        info = await check_server(client)
        await until(lambda: replica_in_sync(ha), 30, "replica in sync")
        await write_and_wait(client, stream, ReplicaWait(replicas=1, timeout_ms=3000))
        with pytest.raises(ReplicasBehindError, match="1 of 2 replicas"):
            await write_and_wait(client, stream, ReplicaWait(replicas=2, timeout_ms=200))
        # WAITAOF: used where the server has it, dropped (after one refusal) where it does not.
        wait = ReplicaWait(replicas=1, timeout_ms=3000, aof=True)
        await write_and_wait(client, stream, wait)
        assert wait.append(client.pipeline()) == (2 if info.has_waitaof else 1)
    finally:
        await client.aclose()


def test_sentinel_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_REDIS_SENTINELS", "127.0.0.1:26379,nohost")
    with pytest.raises(ConfigurationError, match="CONVEYOR_REDIS_SENTINELS: expected host:port"):
        load_settings(RedisSettings)
    monkeypatch.setenv("CONVEYOR_REDIS_SENTINELS", "127.0.0.1:26379")
    monkeypatch.setenv("CONVEYOR_REDIS_CLUSTER", "true")
    with pytest.raises(ConfigurationError, match="exclude each other"):
        load_settings(RedisSettings)


INGEST_SECRET = "ha-test-secret-of-sufficient-length-for-hs256"


async def _post_echo(ha: HaSetup, replicas: int, prefix: str) -> tuple[int, dict[str, Any]]:
    """POST one task to an in-process ingest app that WAITs for ``replicas`` replicas."""
    redis_settings = RedisSettings(
        redis_url=ha.primary.url,
        key_prefix=prefix,
        redis_wait_replicas=replicas,
        redis_wait_timeout_ms=1000,
    )
    app = create_app(
        IngestSettings(jwt_secret=SecretStr(INGEST_SECRET)), redis_settings, consume=False
    )
    token = mint_token(INGEST_SECRET, "ha", ["tasks:write"])
    async with TestClient(TestServer(app)) as http:
        response = await http.post(
            "/api/v1/tasks",
            json={"type": "demo.echo", "payload": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        body: dict[str, Any] = await response.json()
        return response.status, body


async def test_ingest_answers_202_only_once_the_replica_has_the_task(ha: HaSetup) -> None:
    await until(lambda: replica_in_sync(ha), 30, "replica in sync")
    prefix = f"t{secrets.token_hex(4)}"
    status, body = await _post_echo(ha, replicas=1, prefix=prefix)
    assert status == 202, body
    # Read straight from the replica right after the 202: WAIT made it arrive first.
    async with Redis(port=ha.replica.port) as replica:
        entries = await xrange(replica, Keys(prefix).queue("default").tasks)
    assert [fields[b"id"].decode() for _, fields in entries] == [body["data"]["id"]]


async def test_ingest_answers_503_when_too_few_replicas_acknowledge(ha: HaSetup) -> None:
    await until(lambda: replica_in_sync(ha), 30, "replica in sync")
    status, body = await _post_echo(ha, replicas=2, prefix=f"t{secrets.token_hex(4)}")
    assert status == 503, body


async def test_services_as_processes_carry_on_after_the_primary_is_killed(
    ha: HaSetup, tmp_path: Path
) -> None:
    await services_carry_on_after_the_primary_dies(ha, tmp_path)


class _Recorder:
    """Stands in for a pipeline: records the commands queued on it."""

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any) -> None:
        self.commands.append(args)


def test_replica_wait_reply_checks_without_a_server() -> None:
    wait = ReplicaWait(replicas=2, timeout_ms=100, aof=True)
    pipe = _Recorder()
    assert wait.append(pipe) == 2
    assert pipe.commands == [("WAIT", 2, 100), ("WAITAOF", 1, 0, 100)]
    wait.check([2, [1, 0]])
    with pytest.raises(ReplicasBehindError, match="AOF"):
        wait.check([2, [0, 0]])
    with pytest.raises(ReplicasBehindError, match="1 of 2"):
        wait.check([1, [1, 0]])
    with pytest.raises(ReplicasBehindError):
        wait.check([redis_errors.ConnectionError("gone"), [1, 0]])
    # A server without WAITAOF: one refusal turns it off for good; WAIT stays.
    wait.check([2, redis_errors.ResponseError("ERR unknown command 'WAITAOF'")])
    assert wait.append(_Recorder()) == 1
    assert ReplicaWait.from_settings(RedisSettings()) is None
