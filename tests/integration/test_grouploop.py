"""The one consumer-group read loop (conveyor.grouploop) against a real, paused Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.grouploop import GroupReader, run_guarded
from conveyor.keys import Keys
from conveyor.localserver import LocalServer
from waiting import wait_for

GROUP = "workers"


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[LocalServer]:
    """A server of this test's own, which the test pauses with SIGSTOP."""
    server = LocalServer(tmp_path / "redis", kind="redis").start()
    yield server
    server.stop()


async def own_pending(client: Redis, stream: str, consumer: str) -> int:
    """How many entries the PEL holds for ``consumer``."""
    reply = await client.xpending_range(stream, GROUP, "-", "+", 100, consumername=consumer)
    return len(reply)


async def test_a_read_that_timed_out_during_a_pause_gets_its_entries_back_at_once(
    own_server: LocalServer, keys: Keys
) -> None:
    """The server ran the read after the client gave up: the next read returns those entries."""
    stream = keys.queue("default").tasks
    admin = Redis.from_url(own_server.url)
    client = Redis.from_url(own_server.url, socket_timeout=0.3)
    reader = GroupReader(client, GROUP, "c1", (stream,))
    try:
        await reader.ensure_groups()
        ids = [await admin.xadd(stream, {"n": str(n)}) for n in range(3)]
        with own_server.paused(), pytest.raises(redis_errors.TimeoutError):
            await reader.read(10, block_ms=100)
        # Resumed, the server ran the read whose reply nobody waits for any more.
        await wait_for(lambda: own_pending(admin, stream, "c1"), what="entries pending on c1")
        batches = await reader.read(10, block_ms=100)
        assert [entry_id for _, entries in batches for entry_id, _ in entries] == ids
        # Then new entries again (the own pending list was read to its end).
        assert await reader.read(10, block_ms=None) == []
        later = await admin.xadd(stream, {"n": "9"})
        batches = await reader.read(10, block_ms=100)
        assert [entry_id for _, entries in batches for entry_id, _ in entries] == [later]
    finally:
        await client.aclose()
        await admin.aclose()


async def test_a_deleted_group_is_recreated_on_the_next_read(redis: Redis, keys: Keys) -> None:
    stream = keys.queue("default").tasks
    reader = GroupReader(redis, GROUP, "c1", (stream,))
    await reader.ensure_groups()
    await redis.delete(stream)
    assert await reader.read(10) == []  # NOGROUP: answered with nothing, not an error
    entry_id = await redis.xadd(stream, {"n": "1"})
    batches = await reader.read(10)
    assert [e for _, entries in batches for e, _ in entries] == [entry_id]


async def test_stale_entries_of_a_dead_consumer_are_claimed(redis: Redis, keys: Keys) -> None:
    stream = keys.queue("default").tasks
    dead = GroupReader(redis, GROUP, "dead", (stream,))
    await dead.ensure_groups()
    entry_id = await redis.xadd(stream, {"n": "1"})
    assert await dead.read(10)
    alive = GroupReader(redis, GROUP, "alive", (stream,), claim_idle_ms=1)
    await wait_for(lambda: alive.read(10, now_ms=0), what="the dead consumer's entry claimed")
    assert await own_pending(redis, stream, "alive") == 1
    assert await own_pending(redis, stream, "dead") == 0
    assert entry_id


async def test_the_guarded_loop_survives_failures_and_stops() -> None:
    stop = asyncio.Event()
    calls: list[int] = []

    async def step() -> None:
        calls.append(1)
        if len(calls) == 1:
            msg = "down"
            raise redis_errors.ConnectionError(msg)
        if len(calls) == 2:
            msg = "a bug"
            raise RuntimeError(msg)
        stop.set()

    await asyncio.wait_for(run_guarded(stop, "step_failed", step), 5)
    assert len(calls) == 3
