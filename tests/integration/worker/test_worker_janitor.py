"""Janitor: empty idle consumers go, busy ones stay; trimming never drops unacked entries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.streams import Group, ensure_group
from conveyor_worker.janitor import Janitor
from conveyor_worker.testing import read_as, xrange
from waiting import wait_for

GROUP = Group.WORKERS.value


async def eventually(probe: Callable[[], Awaitable[object]], what: str, within: float = 30) -> None:
    """``waiting.wait_for`` for an async probe (its annotation trips mypy's inference)."""
    await wait_for(probe, within=within, what=what)


async def consumers_idle(redis: Redis, stream: str, idle_ms: int) -> bool:
    """Whether every consumer of the workers group has been idle ``idle_ms``."""
    rows = await redis.xinfo_consumers(stream, GROUP)
    return bool(rows) and all(int(str(row["idle"])) >= idle_ms for row in rows)


async def test_janitor_removes_idle_empty_consumers_but_never_one_with_pending_entries(
    redis: Redis, keys: Keys
) -> None:
    q = keys.queue("default")
    await ensure_group(redis, q.tasks, GROUP)
    await redis.xadd(q.tasks, {"n": "1"})
    await read_as(redis, q.tasks, "busy", 1)
    await redis.xgroup_createconsumer(q.tasks, GROUP, "empty")
    await eventually(lambda: consumers_idle(redis, q.tasks, 100), "consumers idle")
    assert len(await redis.xinfo_consumers(q.tasks, GROUP)) == 2
    report = await Janitor(redis, q, "me", 10_000, 50).run_once()
    assert report.ran
    names = {row["name"] for row in await redis.xinfo_consumers(q.tasks, GROUP)}
    assert names == {b"busy"}
    assert report.consumers_deleted == 1


async def test_trim_keeps_everything_from_the_oldest_pending_or_undelivered_entry(
    redis: Redis, keys: Keys
) -> None:
    q = keys.queue("default")
    await ensure_group(redis, q.tasks, GROUP)
    ids = [await redis.xadd(q.tasks, {"n": str(n)}) for n in range(6)]
    await read_as(redis, q.tasks, "c", 4)
    await redis.xack(q.tasks, GROUP, ids[0], ids[1], ids[3])  # ids[2] still pending
    await Janitor(redis, q, "me", 10_000, 3_600_000).run_once()
    left = [entry_id for entry_id, _ in await xrange(redis, q.tasks)]
    assert left == ids[2:]


async def test_trim_waits_for_every_group_and_the_lease_admits_one_janitor(
    redis: Redis, keys: Keys
) -> None:
    q = keys.queue("default")
    await ensure_group(redis, q.tasks, GROUP)
    await ensure_group(redis, q.tasks, "laggard")  # delivered nothing yet
    ids = [await redis.xadd(q.tasks, {"n": str(n)}) for n in range(3)]
    await read_as(redis, q.tasks, "c", 3)
    await redis.xack(q.tasks, GROUP, *ids)
    first = await Janitor(redis, q, "one", 10_000, 3_600_000).run_once()
    second = await Janitor(redis, q, "two", 10_000, 3_600_000).run_once()
    assert first.ran
    assert not second.ran
    assert await redis.xlen(q.tasks) == 3
