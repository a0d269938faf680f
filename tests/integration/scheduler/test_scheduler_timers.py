"""Timer intake, promotion and control: delayed tasks and retry timers reach their queue on time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from conveyor.control import cancel_fields, replace_fields
from conveyor.deadletter import DeadReason
from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.events import TaskEventType
from conveyor.keys import Keys
from conveyor.streams import Group
from conveyor.timers import TimerKind, timer_fields
from conveyor_scheduler.entries import flatten
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.testing import events, scheduler_pending, tasks, xadd, xrange
from waiting import wait_for

T0 = 1_795_766_400_000  # 2026-11-27T08:00:00Z

ReplicaFactory = Callable[..., Scheduler]


async def tasks_of(redis: Redis, keys: Keys) -> list[TaskEnvelope]:
    """Every task on the default queue's task stream, decoded."""
    return await tasks(redis, keys.queue("default"))


async def events_of(redis: Redis, keys: Keys) -> list[tuple[TaskEventType, str]]:
    """(event, task id) of every event on the default queue."""
    return [(e.event, e.task_id) for e in await events(redis, keys.queue("default"))]


async def add_timer(
    redis: Redis, keys: Keys, due_ms: int, kind: TimerKind = TimerKind.DELAYED, **kw: Any
) -> TaskEnvelope:
    """XADD a timer message as ingest or a worker does; returns its envelope."""
    envelope = new_envelope("demo.echo", {"n": 1}, "default", **kw)
    await xadd(redis, keys.queue("default").timers_in, timer_fields(envelope, due_ms, kind))
    return envelope


async def pending_count(redis: Redis, stream: str) -> int:
    """Entries the scheduler group read but did not acknowledge."""
    return await scheduler_pending(redis, stream)


async def test_delayed_task_waits_in_the_index_and_is_promoted_at_its_due_time(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    envelope = await add_timer(redis, keys, T0 + 5_000)
    first = await scheduler.tick(T0)
    assert (first.filed, first.promoted) == (1, 0)
    assert first.next_wake_ms == T0 + 5_000
    assert await tasks_of(redis, keys) == []
    assert await pending_count(redis, keys.queue("default").timers_in) == 0
    early = await scheduler.tick(T0 + 4_999)
    assert early.promoted == 0
    due = await scheduler.tick(T0 + 5_000)
    assert due.promoted == 1
    assert due.promotion_lateness_max_ms == 0
    (task,) = await tasks_of(redis, keys)
    assert task == envelope
    raw = (await xrange(redis, keys.queue("default").tasks))[0][1]
    assert b"due_ms" not in raw
    assert b"timer_kind" not in raw
    assert await events_of(redis, keys) == [
        (TaskEventType.SCHEDULED, envelope.id),
        (TaskEventType.PENDING, envelope.id),
    ]
    assert await redis.zcard(keys.queue("default").timer_index) == 0
    assert await redis.hlen(keys.queue("default").timer_entries) == 0


async def test_retry_timer_from_a_worker_is_promoted_with_its_attempt_number(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    envelope = new_envelope("demo.fail", {"x": [1, 2]}, "default", max_attempts=5).next_attempt()
    timer = timer_fields(envelope, T0 + 250, TimerKind.RETRY)
    await xadd(redis, keys.queue("default").timers_in, timer)
    await scheduler.tick(T0)
    result = await scheduler.tick(T0 + 1_000)
    assert result.promoted == 1
    assert result.promotion_lateness_max_ms == 750
    (task,) = await tasks_of(redis, keys)
    assert (task.id, task.attempt, task.max_attempts, task.payload) == (
        envelope.id,
        2,
        5,
        {"x": [1, 2]},
    )


async def test_invalid_timer_entry_is_dead_lettered_with_its_reason_and_acknowledged(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    queue = keys.queue("default")
    await xadd(redis, queue.timers_in, {"v": "1", "id": "x1", "type": "demo.echo", "data": "{}"})
    good = await add_timer(redis, keys, T0)
    result = await make_replica().tick(T0)
    assert (result.filed, result.dead, result.promoted) == (1, 1, 1)
    (dead,) = await xrange(redis, queue.dead)
    assert dead[1][b"dead_reason"] == DeadReason.UNDECODABLE.value.encode()
    assert b"due_ms" in dead[1][b"dead_error"]
    assert dead[1][b"id"] == b"x1"
    assert [t.id for t in await tasks_of(redis, keys)] == [good.id]
    assert await pending_count(redis, queue.timers_in) == 0


async def test_cancel_drops_a_pending_timer(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica()
    cancelled = await add_timer(redis, keys, T0 + 1_000)
    kept = await add_timer(redis, keys, T0 + 1_000)
    await scheduler.tick(T0)
    await xadd(redis, keys.queue("default").control, cancel_fields(cancelled.id, T0, T0 + 10_000))
    result = await scheduler.tick(T0 + 10)
    assert result.dropped == 1
    await scheduler.tick(T0 + 2_000)
    assert [t.id for t in await tasks_of(redis, keys)] == [kept.id]
    assert await pending_count(redis, keys.queue("default").control) == 0


async def test_two_replicas_promoting_at_once_enqueue_each_timer_exactly_once(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    a, b = make_replica("a", batch=50), make_replica("b", batch=50)
    queue = keys.queue("default")
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(1_000):
            envelope = new_envelope("demo.echo", n, "default")
            fields = timer_fields(envelope, T0 + n % 7, TimerKind.DELAYED)
            pipe.execute_command("XADD", queue.timers_in, "*", *flatten(fields))
        await pipe.execute()
    await asyncio.gather(a.tick(T0 - 1), b.tick(T0 - 1))
    assert await redis.zcard(queue.timer_index) == 1_000
    results = await asyncio.gather(a.tick(T0 + 10), b.tick(T0 + 10), a.tick(T0 + 10))
    assert sum(r.promoted for r in results) == 1_000
    tasks = await tasks_of(redis, keys)
    assert sorted(t.payload for t in tasks) == list(range(1_000))


async def test_entries_a_dead_replica_read_are_taken_over_by_a_survivor(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    queue = keys.queue("default")
    envelope = await add_timer(redis, keys, T0)
    # The dead replica read the entry (it is pending for it) but died before filing it.
    await redis.xgroup_create(queue.timers_in, Group.SCHEDULER, id="0", mkstream=True)
    await redis.xreadgroup(Group.SCHEDULER, "dead-replica", {queue.timers_in: ">"})
    survivor = make_replica("survivor", claim_idle_ms=1_000)
    clock = [T0]

    async def survivor_promoted() -> int:
        # The idle time XAUTOCLAIM measures is the server's real time: tick until it is reached.
        clock[0] += 1_000
        return (await survivor.tick(clock[0])).promoted

    # wait_for's TypeVar is not inferred through a coroutine function, hence the ignore.
    await wait_for(survivor_promoted, within=30, interval=0.2, what="takeover")
    assert [t.id for t in await tasks_of(redis, keys)] == [envelope.id]
    assert await pending_count(redis, queue.timers_in) == 0


async def test_a_promotion_backlog_is_reported_as_timer_lag_and_drained_by_later_passes(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    scheduler = make_replica(batch=1)  # one timer per step, 100 steps per pass
    for _ in range(150):
        await add_timer(redis, keys, T0)
    while (await scheduler.tick(T0 - 1)).filed:
        pass  # intake reads 20 batches (of one) per pass: file all 150 first
    assert await redis.zcard(keys.queue("default").timer_index) == 150
    first = await scheduler.tick(T0 + 3_000)
    assert first.promoted == 100
    assert first.timer_lag_ms == {"default": 3_000}
    second = await scheduler.tick(T0 + 3_100)
    assert second.promoted == 50
    assert second.timer_lag_ms == {"default": 0}


async def test_malformed_control_messages_are_acknowledged_and_ignored(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    queue = keys.queue("default")
    pending = await add_timer(redis, keys, T0 + 1_000)
    scheduler = make_replica()
    await scheduler.tick(T0)
    await xadd(redis, queue.control, {"v": "1", "op": "explode", "task_id": pending.id})
    # A replace without its revision and changes (ingest's script adds them).
    await xadd(redis, queue.control, replace_fields(pending.id, T0, T0 + 10_000))
    result = await scheduler.tick(T0 + 10)
    assert (result.dropped, result.replaced) == (0, 0)
    assert await pending_count(redis, queue.control) == 0
    await scheduler.tick(T0 + 1_000)
    assert [t.id for t in await tasks_of(redis, keys)] == [pending.id]
