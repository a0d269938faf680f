"""Replace messages (PUT) at the scheduler: a timer of an older revision of a first attempt
changes; a promoted task is left to the workers, which hold the same change; a replace that
finds no timer is recorded by the scheduler and applied to the task's timer when it is filed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from redis.asyncio import Redis

from conveyor.control import cancel_fields, replace_fields
from conveyor.envelope import TaskEnvelope, as_text, new_envelope
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


async def change(
    redis: Redis, keys: Keys, task_id: str, revision: int, until: int = UNTIL, **fields: str
) -> None:
    message = replace_fields(task_id, T0 + 5, until, revision, fields)
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


async def control_first(redis: Redis, keys: Keys, now_ms: int = T0 + 5) -> int:
    """Apply the control stream as another replica would, before any timer is filed."""
    q = keys.queue("default")
    replica = ControlConsumer(redis, q, GroupReader(redis, q.control, "replica-b", 500, 60_000))
    return (await replica.run_once(now_ms)).replaced


async def records(redis: Redis, keys: Keys) -> dict[str, str]:
    """The scheduler's change records, task id -> '<revision> <at> <changes>'."""
    q = keys.queue("default")
    found = {as_text(k): as_text(v) for k, v in (await redis.hgetall(q.replaces)).items()}
    assert await redis.zcard(q.replaces_expiry) == len(found)  # each with its expiry
    assert all([await redis.zscore(q.replaces_expiry, task_id) for task_id in found])
    return found


async def test_a_timer_filed_after_its_replace_is_promoted_at_the_changed_due_time(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    q = keys.queue("default")
    held = await timer(redis, keys, T0 + 3_600_000)  # unread in timers-in (an intake backlog)
    await change(redis, keys, held.id, 1, data='"first"', due_ms=str(T0 + 9_000))
    await change(redis, keys, held.id, 2, data='"new"', due_ms=str(T0 + 2_000))
    assert await control_first(redis, keys) == 0  # no timer to change yet: recorded
    assert await records(redis, keys) == {
        held.id: f'2 {T0 + 5} {{"data":"\\"new\\"","due_ms":"{T0 + 2_000}"}}'
    }  # only the newest revision
    assert await redis.zscore(q.replaces_expiry, held.id) == UNTIL
    scheduler = make_replica()
    result = await scheduler.tick(T0 + 10)
    assert (result.filed, result.replaced, result.promoted) == (1, 1, 0)
    assert await records(redis, keys) == {}  # used up
    assert await redis.zscore(q.timer_index, held.id) == T0 + 2_000
    (scheduled,) = await events(redis, q)
    assert (scheduled.event, scheduled.due_ms, scheduled.revision) == (
        TaskEventType.SCHEDULED, T0 + 2_000, 2
    )  # fmt: skip
    assert (await scheduler.tick(T0 + 1_999)).promoted == 0
    assert (await scheduler.tick(T0 + 2_000)).promoted == 1
    (promoted,) = await tasks(redis, q)
    assert (promoted.id, promoted.payload, promoted.revision) == (held.id, "new", 2)
    pending = [e for e in await events(redis, q) if e.event is TaskEventType.PENDING]
    assert [(e.task_id, e.revision) for e in pending] == [(held.id, 2)]


async def test_a_record_that_removes_the_due_time_makes_the_filed_timer_due_at_once(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    q = keys.queue("default")
    held = await timer(redis, keys, T0 + 3_600_000)
    await change(redis, keys, held.id, 1, due_ms="", timeout="2.5")
    assert await control_first(redis, keys) == 0
    result = await make_replica().tick(T0 + 10)
    assert (result.filed, result.replaced, result.promoted) == (1, 1, 1)
    (promoted,) = await tasks(redis, q)
    assert (promoted.payload, promoted.timeout, promoted.revision) == ("old", 2.5, 1)
    assert await records(redis, keys) == {}


async def test_a_record_not_newer_than_the_timer_or_for_a_retry_changes_nothing(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    q = keys.queue("default")
    due = T0 + 60_000
    same = await timer(redis, keys, due, revision=2)
    newer = await timer(redis, keys, due, revision=3)
    retry = await timer(redis, keys, due, attempt=2)
    for held in (same, newer, retry):
        await change(redis, keys, held.id, 2, data='"new"', due_ms=str(T0 + 10))
    assert await control_first(redis, keys) == 0
    assert len(await records(redis, keys)) == 3
    result = await make_replica().tick(T0 + 10)
    assert (result.filed, result.replaced, result.promoted) == (3, 0, 0)
    for held in (same, newer, retry):
        assert await redis.zscore(q.timer_index, held.id) == due
        doc = await redis.hget(q.timer_entries, held.id)
        assert doc is not None
        fields = read_entry(doc)
        assert (fields["data"], fields.get("revision", "0")) == ('"old"', str(held.revision))
    assert {e.revision for e in await events(redis, q)} == {0, 2, 3}
    assert await records(redis, keys) == {}  # filing its task's timer ends a record either way


async def test_an_expired_record_is_dropped_and_changes_nothing(
    redis: Redis, keys: Keys, make_replica: Callable[..., Scheduler]
) -> None:
    q = keys.queue("default")
    held = await timer(redis, keys, T0 + 60_000)
    await change(redis, keys, held.id, 1, until=T0 + 100, data='"new"', due_ms=str(T0 + 10))
    assert await control_first(redis, keys) == 0
    assert list(await records(redis, keys)) == [held.id]
    result = await make_replica().tick(T0 + 101)  # past the replace's until_ms
    assert (result.filed, result.replaced, result.promoted) == (1, 0, 0)
    assert await redis.zscore(q.timer_index, held.id) == T0 + 60_000
    doc = await redis.hget(q.timer_entries, held.id)
    assert doc is not None
    assert (read_entry(doc)["data"], read_entry(doc).get("revision", "0")) == ('"old"', "0")
    assert await records(redis, keys) == {}


async def test_control_drops_expired_records_and_a_cancel_drops_the_tasks_record(
    redis: Redis, keys: Keys
) -> None:
    await change(redis, keys, "t-expires", 1, until=T0 + 100, data='"a"')
    await change(redis, keys, "t-cancelled", 1, data='"b"')
    await change(redis, keys, "t-kept", 1, data='"c"')
    await change(redis, keys, "t-late", 1, until=T0 + 1, data='"d"')  # expired on arrival
    assert await control_first(redis, keys) == 0
    assert set(await records(redis, keys)) == {"t-expires", "t-cancelled", "t-kept"}
    q = keys.queue("default")
    await xadd(redis, q.control, cancel_fields("t-cancelled", T0 + 150, UNTIL))
    assert await control_first(redis, keys, now_ms=T0 + 200) == 0
    assert set(await records(redis, keys)) == {"t-kept"}
