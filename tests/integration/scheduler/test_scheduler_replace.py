"""Replace messages (PUT) at the scheduler: a timer of an older revision of a first attempt
changes; a promoted task is left to the workers, which hold the same change; a timer filed
after its replace gets the workers' mark of the change when it is filed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from redis.asyncio import Redis

from conveyor.control import replace_fields
from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.events import TaskEventType
from conveyor.keys import Keys
from conveyor.timers import TimerKind, timer_fields
from conveyor_scheduler.control import ControlConsumer
from conveyor_scheduler.entries import read_entry
from conveyor_scheduler.reading import GroupReader
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


async def worker_mark(redis: Redis, keys: Keys, task_id: str, mark: str) -> None:
    """File a change as the workers' control consumer does: '<revision> <changes JSON>'."""
    await redis.hset(keys.queue("default").replaced, task_id, mark)


async def control_first(redis: Redis, keys: Keys) -> int:
    """Apply the control stream as another replica would, before any timer is filed."""
    q = keys.queue("default")
    replica = ControlConsumer(redis, q, GroupReader(redis, q.control, "replica-b", 500, 60_000))
    return (await replica.run_once(T0 + 5)).replaced


async def test_a_timer_filed_after_its_replace_is_promoted_at_the_changed_due_time(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    q = keys.queue("default")
    held = await timer(redis, keys, T0 + 3_600_000)  # unread in timers-in (an intake backlog)
    changes = {"data": '"new"', "due_ms": str(T0 + 2_000)}
    await change(redis, keys, held.id, 1, **changes)
    assert await control_first(redis, keys) == 0  # no timer to change yet
    await worker_mark(redis, keys, held.id, "1 " + json.dumps(changes))
    scheduler = make_replica()
    result = await scheduler.tick(T0 + 10)
    assert (result.filed, result.replaced, result.promoted) == (1, 1, 0)
    assert await redis.zscore(q.timer_index, held.id) == T0 + 2_000
    (scheduled,) = await events(redis, q)
    assert (scheduled.event, scheduled.due_ms, scheduled.revision) == (
        TaskEventType.SCHEDULED, T0 + 2_000, 1
    )  # fmt: skip
    assert (await scheduler.tick(T0 + 1_999)).promoted == 0
    assert (await scheduler.tick(T0 + 2_000)).promoted == 1
    (promoted,) = await tasks(redis, q)
    assert (promoted.id, promoted.payload, promoted.revision) == (held.id, "new", 1)
    pending = [e for e in await events(redis, q) if e.event is TaskEventType.PENDING]
    assert [(e.task_id, e.revision) for e in pending] == [(held.id, 1)]


async def test_a_mark_that_removes_the_due_time_makes_the_filed_timer_due_at_once(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    q = keys.queue("default")
    held = await timer(redis, keys, T0 + 3_600_000)
    await worker_mark(redis, keys, held.id, '1 {"due_ms":"","timeout":"2.5"}')
    result = await make_replica().tick(T0 + 10)
    assert (result.filed, result.replaced, result.promoted) == (1, 1, 1)
    (promoted,) = await tasks(redis, q)
    assert (promoted.payload, promoted.timeout, promoted.revision) == ("old", 2.5, 1)


async def test_a_mark_not_newer_than_the_timer_or_for_a_retry_changes_nothing(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    q = keys.queue("default")
    due = T0 + 60_000
    same = await timer(redis, keys, due, revision=2)
    newer = await timer(redis, keys, due, revision=3)
    retry = await timer(redis, keys, due, attempt=2)
    spent = await timer(redis, keys, due)  # a worker applied the change: only its revision left
    changed = "2 " + json.dumps({"data": '"new"', "due_ms": str(T0 + 10)})
    for held in (same, newer, retry):
        await worker_mark(redis, keys, held.id, changed)
    await worker_mark(redis, keys, spent.id, "2")
    result = await make_replica().tick(T0 + 10)
    assert (result.filed, result.replaced, result.promoted) == (4, 0, 0)
    for held in (same, newer, retry, spent):
        assert await redis.zscore(q.timer_index, held.id) == due
        doc = await redis.hget(q.timer_entries, held.id)
        assert doc is not None
        fields = read_entry(doc)
        assert (fields["data"], fields.get("revision", "0")) == ('"old"', str(held.revision))
    assert {e.revision for e in await events(redis, q)} == {0, 2, 3}
