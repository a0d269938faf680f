"""Changes (replace messages) of tasks already on the task stream: applied at the start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.control import cancel_fields, replace_fields
from conveyor.envelope import TaskEnvelope
from conveyor.events import TaskEvent, TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor.streams import Entry, read_reply_entries
from conveyor_worker import outcomes
from conveyor_worker.testing import StreamView, read_as, recording_registry, xrange
from conveyor_worker.worker import Worker
from waiting import wait_for

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]
UNTIL = 4_102_444_800_000  # year 2100
_E = TaskEventType


async def change(redis: Redis, keys: Keys, task_id: str, revision: int, **changes: str) -> None:
    """XADD a replace as ingest's change script writes it (cumulative changes)."""
    fields = replace_fields(task_id, 1, UNTIL, revision, changes)
    await redis.xadd(keys.queue("default").control, fields)  # type: ignore[arg-type]


async def task_events(view: StreamView, task_id: str) -> list[TaskEvent]:
    return [e for e in await view.events() if e.task_id == task_id]


async def test_changed_pending_task_runs_only_the_new_payload_exactly_once(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry, runs = recording_registry()
    task = await enqueue("t.rec", "old", max_attempts=4)
    await enqueue("t.rec", "untouched")
    await change(redis, keys, task.id, 1, data=json.dumps("new"), max_attempts="")
    await make_worker(registry=registry).run(burst=True)
    assert sorted(runs, key=str) == [("new", 1), ("untouched", 0)]
    events = await task_events(view, task.id)
    assert [e.event for e in events] == [_E.UPDATED, _E.STARTED, _E.SUCCEEDED]
    assert [e.revision for e in events] == [1, 1, 1]
    assert events[-1].result == '"new"'
    q = keys.queue("default")
    stream = [f for _, f in await xrange(redis, q.tasks)]
    assert len(stream) == 3  # the old entry stays (acknowledged) until trimmed
    assert b"max_attempts" not in stream[2]  # "" removed the option
    assert await view.pending() == 0
    assert await redis.hget(q.replaced, task.id) == b"1"  # spent: the revision only


async def test_a_second_start_of_the_old_entry_skips_it_without_a_second_copy(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    """As when two workers hold the old entry (one claimed it from the other)."""
    registry, runs = recording_registry()
    task = await enqueue("t.rec", "old")
    await change(redis, keys, task.id, 1, data=json.dumps("new"))
    await make_worker(registry=registry).run(burst=True)
    q = keys.queue("default")
    await redis.xadd(q.tasks, task.to_fields())  # type: ignore[arg-type]
    await make_worker(registry=registry).run(burst=True)
    assert runs == [("new", 1)]
    assert await redis.xlen(q.tasks) == 3  # old, its copy, the changed task: nothing added
    assert [e.event for e in await task_events(view, task.id)] == [
        _E.UPDATED, _E.STARTED, _E.SUCCEEDED,
    ]  # fmt: skip
    assert await view.pending() == 0


async def test_two_changes_in_a_row_run_only_the_last(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry, runs = recording_registry()
    task = await enqueue("t.rec", 0)
    await change(redis, keys, task.id, 1, data="1")
    await change(redis, keys, task.id, 2, data="2", timeout="9.5")
    await change(redis, keys, task.id, 1, data="1")  # a stale revision changes nothing
    await make_worker(registry=registry).run(burst=True)
    assert runs == [(2, 2)]
    started = [e for e in await task_events(view, task.id) if e.event is _E.STARTED]
    assert [e.revision for e in started] == [2]


async def test_a_change_applied_earlier_is_replaced_again_by_a_newer_one(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    """Revision 1 reached the stream, revision 2 came before a worker took it."""
    registry, runs = recording_registry()
    task = await enqueue("t.rec", 0)
    await change(redis, keys, task.id, 1, data="1")
    first = make_worker(registry=registry, consumer="first").queues[0]
    await first.setup()
    await first.control.poll(None)
    (old_id, _), *_ = await read_as(redis, keys.queue("default").tasks, "first")
    first.committer.add(outcomes.started(old_id.decode(), task, 1, checked=True))
    await first.committer.flush()  # the start op: the old entry is skipped, revision 1 added
    await change(redis, keys, task.id, 2, data="2")
    await make_worker(registry=registry, consumer="second").run(burst=True)
    assert runs == [(2, 2)]
    events = await task_events(view, task.id)
    assert [(e.event, e.revision) for e in events] == [
        (_E.UPDATED, 1), (_E.UPDATED, 2), (_E.STARTED, 2), (_E.SUCCEEDED, 2),
    ]  # fmt: skip


async def test_change_with_a_due_time_becomes_a_timer(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry, runs = recording_registry()
    task = await enqueue("t.rec", "old")
    due = 1_900_000_000_000
    await change(redis, keys, task.id, 1, data='"later"', due_ms=str(due))
    await make_worker(registry=registry).run(burst=True)
    assert runs == []
    (timer,) = await view.timers()
    assert (timer.envelope.id, timer.envelope.payload, timer.due_ms) == (task.id, "later", due)
    assert timer.envelope.revision == 1
    events = await task_events(view, task.id)
    assert [(e.event, e.due_ms, e.revision) for e in events] == [(_E.SCHEDULED, due, 1)]
    assert await view.pending() == 0


async def test_cancel_after_a_change_wins(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry, runs = recording_registry()
    task = await enqueue("t.rec", "old")
    await change(redis, keys, task.id, 1, data='"new"')
    q = keys.queue("default")
    await redis.xadd(q.control, cancel_fields(task.id, 1, UNTIL))  # type: ignore[arg-type]
    await change(redis, keys, task.id, 2, data='"newer"')  # never revives it
    await make_worker(registry=registry).run(burst=True)
    assert runs == []
    assert [e.event for e in await task_events(view, task.id)] == [_E.CANCELLED]


async def test_change_arriving_after_the_start_is_never_applied(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    """The race lost: the task runs once, as it was; its retry is not changed either."""
    registry = Registry()
    runs: list[tuple[Any, int, int]] = []
    release = asyncio.Event()

    @registry.handler("t.slow", max_attempts=2)
    async def slow(ctx: TaskContext, payload: Any) -> Any:
        runs.append((payload, ctx.envelope.revision, ctx.attempt))
        await release.wait()
        if ctx.attempt == 1:
            msg = "first attempt fails"
            raise RuntimeError(msg)
        return payload

    task = await enqueue("t.slow", "old")
    worker = make_worker(registry=registry, cancel_check_window=0)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await wait_for(lambda: len(runs) == 1, within=30, what="the task started")
    await change(redis, keys, task.id, 1, data='"new"')
    q = keys.queue("default")
    await wait_for(lambda: redis.hexists(q.replaced, task.id), within=30, what="change filed")
    release.set()  # the retry is written after the mark: a late change must not touch it
    await wait_for(lambda: redis.xlen(q.timers_in), within=30, what="retry timer")
    stop.set()
    await running
    (timer,) = await view.timers()
    await redis.xadd(q.tasks, timer.envelope.to_fields())  # type: ignore[arg-type]
    await make_worker(registry=registry).run(burst=True)
    assert runs == [("old", 0, 1), ("old", 0, 2)]
    assert await redis.hget(q.replaced, task.id) == b"1"  # the unusable changes are dropped
    events = await task_events(view, task.id)
    assert _E.UPDATED not in [e.event for e in events]
    assert {e.revision for e in events} == {0}


async def test_a_burst_reads_the_changed_copy_a_commit_added_during_its_empty_read(
    redis: Redis,
    keys: Keys,
    make_worker: MakeWorker,
    enqueue: Enqueue,
    view: StreamView,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The start commit runs on the server after the read, its reply is handled before the
    read's (a busy machine): the read is empty and nothing is in flight any more, yet the
    burst must not end with the changed copy unread."""
    registry, runs = recording_registry()
    task = await enqueue("t.rec", "old")
    await change(redis, keys, task.id, 1, data='"new"')
    consumer = make_worker(registry=registry).queues[0]
    await consumer.setup()
    await consumer.drain_control()
    tasks, read = keys.queue("default").tasks, redis.xreadgroup

    async def commit_during_an_empty_read(
        group: str, name: str, streams: dict[str, str], **options: Any
    ) -> Any:
        reply = await read(group, name, streams, **options)  # type: ignore[arg-type]
        if tasks in streams and not read_reply_entries(reply):
            await consumer.committer.flush()
        return reply

    monkeypatch.setattr(redis, "xreadgroup", commit_during_an_empty_read)
    await consumer.run_burst()  # no background flusher: only the empty reads commit
    assert runs == [("new", 1)]
    assert await view.pending() == 0


async def test_a_burst_records_earlier_changes_before_it_starts_a_task(
    redis: Redis,
    keys: Keys,
    make_worker: MakeWorker,
    enqueue: Enqueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However late the background control loop would record the messages it read."""
    registry, runs = recording_registry()
    task = await enqueue("t.rec", "old")
    await change(redis, keys, task.id, 1, data='"new"')
    worker = make_worker(registry=registry)
    control = worker.queues[0].control
    apply, burst = control.apply, asyncio.current_task()

    async def recorded_only_by_the_burst(entries: list[Entry]) -> None:
        if asyncio.current_task() is not burst:
            await asyncio.Event().wait()  # a background poll that never records what it read
        await apply(entries)

    monkeypatch.setattr(control, "apply", recorded_only_by_the_burst)
    await worker.run(burst=True)
    assert runs == [("new", 1)]
