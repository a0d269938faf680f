"""Dataset identity (conveyor.dataset) against a real redis-server restarted empty."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.connection import create_client
from conveyor.dataset import RESET_MARK, DatasetGuard, DatasetResetError, acknowledge
from conveyor.grouploop import GroupReader
from conveyor.keys import Keys
from conveyor.localserver import LocalServer
from conveyor.settings import RedisSettings
from waiting import wait_for


def restart_empty(server: LocalServer) -> None:
    """Stop the server, drop its data (no persistence, or an empty replica), start it again."""
    server.stop()
    for path in server.data_dir.iterdir():
        if path.name != "server.log":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    server.start()  # the same port


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LocalServer]:
    """A server of this test's own, which the test restarts empty."""
    redis = LocalServer(tmp_path / "redis", kind="redis").start()
    yield redis
    redis.stop()


async def text(client: Redis, key: str) -> str:
    """The string value of ``key`` ('' when missing)."""
    value = await client.get(key)
    return value.decode() if isinstance(value, bytes) else str(value or "")


async def outcome(client: Redis) -> str:
    """What a PING answers now: 'ok', 'reset', or '' while the server is still away."""
    try:
        await client.ping()
    except DatasetResetError:
        return "reset"
    except (redis_errors.ConnectionError, redis_errors.TimeoutError):
        return ""
    return "ok"


async def test_a_restart_empty_stops_every_replica_until_an_operator_acknowledges(
    server: LocalServer, keys: Keys
) -> None:
    settings = RedisSettings(redis_url=server.url)
    key = keys.dataset_identity("worker")
    guards = [DatasetGuard(key), DatasetGuard(key)]
    clients = [create_client(settings, guard) for guard in guards]
    admin = Redis.from_url(server.url)
    try:
        for client in clients:
            assert await client.ping()
        assert guards[0].identity is not None
        assert guards[0].identity == guards[1].identity == await text(admin, key)
        restart_empty(server)
        await admin.connection_pool.disconnect()  # its connection died with the server
        assert await wait_for(lambda: outcome(clients[0]), what="the reset found") == "reset"
        assert guards[0].stopped
        assert guards[0].resets == 1
        assert (await text(admin, key)).startswith(RESET_MARK)  # for every process
        assert await wait_for(lambda: outcome(clients[1]), what="the replica stops") == "reset"
        late = DatasetGuard(key)  # a process started after the reset stops too
        late_client = create_client(settings, late)
        assert await outcome(late_client) == "reset"
        await late_client.aclose()
        assert await outcome(clients[0]) == "reset"  # still, until acknowledged
        assert await acknowledge(admin, keys) == [key]
        for client in clients:
            assert await wait_for(partial(outcome, client), what="resumed") == "ok"
        assert guards[0].state()["stopped"] is False
        assert guards[0].identity == guards[1].identity == await text(admin, key)
        assert guards[0].resets == 1
    finally:
        for client in clients:
            await client.aclose()
        await admin.aclose()


async def test_the_continue_policy_counts_the_reset_and_carries_on(
    server: LocalServer, keys: Keys
) -> None:
    guard = DatasetGuard(keys.dataset_identity("scheduler"), policy="continue")
    client = create_client(RedisSettings(redis_url=server.url), guard)
    try:
        await client.ping()
        first = guard.identity
        restart_empty(server)
        assert await wait_for(lambda: outcome(client), what="reconnected") == "ok"
        assert guard.resets == 1
        assert not guard.stopped
        assert guard.identity not in (None, first)
        assert await text(client, keys.dataset_identity("scheduler")) == guard.identity
    finally:
        await client.aclose()


async def test_a_flushed_dataset_is_found_before_a_consumer_group_is_recreated(
    server: LocalServer, keys: Keys
) -> None:
    """No reconnect (FLUSHALL on a live server): the NOGROUP path checks the identity."""
    guard = DatasetGuard(keys.dataset_identity("worker"))
    client = create_client(RedisSettings(redis_url=server.url), guard)
    stream = keys.queue("default").tasks
    reader = GroupReader(client, "workers", "c1", (stream,))
    try:
        await reader.ensure_groups()
        await client.xadd(stream, {"n": "1"})
        assert await reader.read(10)
        await client.flushall()
        assert await reader.read(10) == []  # NOGROUP: recreated on the next read, if allowed
        with pytest.raises(DatasetResetError):
            await reader.read(10)
        assert guard.stopped
        assert await client.exists(stream) == 0  # no group was recreated
    finally:
        await client.aclose()
