"""Replace messages (PUT) at the scheduler: a timer of an older revision of a first attempt
changes; a promoted task is left to the workers, which hold the same change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from redis.asyncio import Redis

from conveyor.control import replace_fields
from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.events import TaskEventType
from conveyor.keys import Keys
from conveyor.timers import TimerKind, timer_fields
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.testing import events, tasks, xadd

T0 = 1_795_766_400_000  # 2026-11-27T08:00:00Z
UNTIL = T0 + 86_400_000


async def timer(
    redis: Redis, keys: Keys, due_ms: int, revision: int = 0, attempt: int = 1
) -> TaskEnvelope:
    """XADD a delayed (or, with attempt=2, retry) timer of a fresh task."""
    fresh = new_envelope("demo.echo", "old", "default")
    envelope = replace(fresh, revision=revision, attempt=attempt)
    kind = TimerKind.RETRY if envelope.attempt > 1 else TimerKind.DELAYED
    await xadd(redis, keys.queue("default").timers_in, timer_fields(envelope, due_ms, kind))
    return envelope


async def change(redis: Redis, keys: Keys, task_id: str, revision: int, **fields: str) -> None:
    message = replace_fields(task_id, T0 + 5, UNTIL, revision, fields)
    await xadd(redis, keys.queue("default").control, message)


async def test_replace_changes_a_delayed_timer_of_an_older_revision_and_its_due_time(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    scheduler = make_replica()
    q = keys.queue("default")
    delayed = await timer(redis, keys, T0 + 3_600_000, revision=1)
    retry = await timer(redis, keys, T0 + 3_600_000, attempt=2)
    newer = await timer(redis, keys, T0 + 3_600_000, revision=3)
    await scheduler.tick(T0)
    await change(redis, keys, delayed.id, 2, data='"new"', timeout="2.5", due_ms="")
    await change(redis, keys, retry.id, 1, data='"new"', due_ms="")  # a retry: too late
    await change(redis, keys, newer.id, 2, data='"new"', due_ms="")  # an older revision
    result = await scheduler.tick(T0 + 10)
    assert result.replaced == 1
    await scheduler.tick(T0 + 20)
    (promoted,) = await tasks(redis, q)
    assert (promoted.id, promoted.payload, promoted.revision) == (delayed.id, "new", 2)
    assert promoted.timeout == 2.5
    (pending,) = [e for e in await events(redis, q) if e.event is TaskEventType.PENDING]
    assert (pending.task_id, pending.revision) == (delayed.id, 2)
    assert await redis.zscore(q.timer_index, retry.id) == T0 + 3_600_000
    assert await redis.zscore(q.timer_index, newer.id) == T0 + 3_600_000


async def test_replace_without_a_due_time_keeps_the_timer_due(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    scheduler = make_replica()
    q = keys.queue("default")
    delayed = await timer(redis, keys, T0 + 60_000, revision=1)
    await scheduler.tick(T0)
    await change(redis, keys, delayed.id, 2, data='"new"', max_attempts="")
    assert (await scheduler.tick(T0 + 10)).replaced == 1
    assert await redis.zscore(q.timer_index, delayed.id) == T0 + 60_000
    await scheduler.tick(T0 + 60_000)
    (promoted,) = await tasks(redis, q)
    assert (promoted.payload, promoted.revision) == ("new", 2)


async def test_replace_changes_an_unchanged_timer_but_leaves_a_promoted_task_alone(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    scheduler = make_replica()
    q = keys.queue("default")
    held = await timer(redis, keys, T0 + 60_000)  # revision 0: as ingest accepted it
    promoted = await timer(redis, keys, T0 + 10)
    await scheduler.tick(T0 + 10)
    await change(redis, keys, held.id, 1, data='"new"', due_ms=str(T0 + 2_000))
    await change(redis, keys, promoted.id, 1, data='"new"')
    result = await scheduler.tick(T0 + 20)
    assert result.replaced == 1
    assert await redis.zscore(q.timer_index, held.id) == T0 + 2_000
    await scheduler.tick(T0 + 2_000)
    found = [(t.id, t.payload, t.revision) for t in await tasks(redis, q)]
    # The promoted task keeps revision 0: the worker that takes it applies the change.
    assert found == [(promoted.id, "old", 0), (held.id, "new", 1)]
    assert await redis.zcard(q.timer_index) == 0
