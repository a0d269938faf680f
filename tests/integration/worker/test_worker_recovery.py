"""Recovery: lease renewal, claiming from dead consumers, poison cap, deleted pending ids."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from conveyor.deadletter import DeadReason
from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.events import TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor.streams import Group, ensure_group
from conveyor_worker.metrics import WorkerMetrics
from conveyor_worker.testing import StreamView, pending_idle_past, read_as
from conveyor_worker.worker import Worker
from waiting import wait_for

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]
GROUP = Group.WORKERS.value


async def eventually(probe: Callable[[], Awaitable[object]], what: str, within: float = 30) -> None:
    """``waiting.wait_for`` for an async probe (its annotation trips mypy's inference)."""
    await wait_for(probe, within=within, what=what)


async def test_lease_renewal_keeps_a_long_task_on_its_live_worker(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    task = await enqueue("demo.sleep", {"seconds": 2.5})
    owner = make_worker(visibility_timeout=0.6)
    stop = asyncio.Event()
    running = asyncio.create_task(owner.run(stop))
    await eventually(lambda: view.event_types(task.id), "task started")
    thief = make_worker(visibility_timeout=0.6)
    claimed = 0
    while TaskEventType.SUCCEEDED not in await view.event_types(task.id):
        claimed += await thief.queues[0].leases.reclaim()
        await asyncio.sleep(0.1)  # polling pace while the 2.5 s task runs past the timeout
    stop.set()
    await running
    assert claimed == 0
    assert await view.event_types(task.id) == [TaskEventType.STARTED, TaskEventType.SUCCEEDED]


async def test_entry_of_a_dead_consumer_is_claimed_and_run(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    q = keys.queue("default")
    await ensure_group(redis, q.tasks, GROUP)
    task = await enqueue("demo.echo", "x")
    await read_as(redis, q.tasks, "dead-consumer", 1)
    await eventually(lambda: pending_idle_past(redis, q.tasks, 100), "entry idle")
    await make_worker(visibility_timeout=0.05).run(burst=True)
    assert await view.event_types(task.id) == [TaskEventType.STARTED, TaskEventType.SUCCEEDED]
    assert await view.pending() == 0


async def test_task_delivered_too_often_is_dead_lettered_as_poison(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    q = keys.queue("default")
    await ensure_group(redis, q.tasks, GROUP)
    task = await enqueue("demo.echo", "x")
    [(entry_id, _)] = await read_as(redis, q.tasks, "crashed-1", 1)
    await redis.xclaim(q.tasks, GROUP, "crashed-2", 0, [entry_id])  # second delivery
    await eventually(lambda: pending_idle_past(redis, q.tasks, 100), "entry idle")
    await make_worker(visibility_timeout=0.05, max_deliveries=2).run(burst=True)
    dead = await view.dead()
    assert [d.reason for d in dead] == [DeadReason.POISON]
    assert dead[0].attempts == 3
    assert await view.event_types(task.id) == [TaskEventType.DEAD]
    assert await view.pending() == 0


async def test_pending_ids_deleted_by_trimming_are_counted_not_fatal(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    q = keys.queue("default")
    await ensure_group(redis, q.tasks, GROUP)
    gone = await enqueue("demo.echo", 1)
    kept = await enqueue("demo.echo", 2)
    read = await read_as(redis, q.tasks, "dead-consumer", 2)
    await redis.xdel(q.tasks, read[0][0])
    await eventually(lambda: pending_idle_past(redis, q.tasks, 100), "entries idle")
    registry = CollectorRegistry()
    worker = make_worker(visibility_timeout=0.05, metrics=WorkerMetrics.create(registry))
    await worker.run(burst=True)
    labels = {"queue": "default"}
    assert registry.get_sample_value("conveyor_worker_deleted_pending_total", labels) == 1
    assert await view.event_types(kept.id) == [TaskEventType.STARTED, TaskEventType.SUCCEEDED]
    assert await view.event_types(gone.id) == []
    assert await view.pending() == 0


async def test_cancelled_task_is_acked_with_a_cancelled_event_and_never_runs(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    from conveyor.control import cancel_fields

    q = keys.queue("default")
    task = await enqueue("demo.echo", 1)
    other = await enqueue("demo.echo", 2)
    until = 4_102_444_800_000  # year 2100
    await redis.xadd(q.control, cancel_fields(task.id, 1, until))  # type: ignore[arg-type]
    await make_worker().run(burst=True)
    assert await view.event_types(task.id) == [TaskEventType.CANCELLED]
    assert await view.event_types(other.id) == [TaskEventType.STARTED, TaskEventType.SUCCEEDED]
    assert await redis.zscore(q.cancelled, task.id) == until
    assert await view.pending() == 0
    assert await redis.xpending(q.control, GROUP) == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }


async def test_shutdown_commits_what_finishes_within_grace_and_leaves_the_rest_pending(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry = Registry()
    abandoned = asyncio.Event()

    @registry.handler("t.quick")
    async def quick_handler(ctx: TaskContext, payload: None) -> str:
        await asyncio.sleep(0.3)
        return "done"

    @registry.handler("t.slow")
    async def slow_handler(ctx: TaskContext, payload: None) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            abandoned.set()
            raise

    quick = await enqueue("t.quick", None)
    slow = await enqueue("t.slow", None)
    worker = make_worker(registry=registry, shutdown_grace=1.5)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))

    async def both_started() -> bool:
        return bool(await view.event_types(quick.id)) and bool(await view.event_types(slow.id))

    await eventually(both_started, "both tasks started")
    stop.set()
    await asyncio.wait_for(running, 30)
    assert abandoned.is_set(), "the unfinished handler was not cancelled"
    assert await view.event_types(quick.id) == [TaskEventType.STARTED, TaskEventType.SUCCEEDED]
    assert await view.event_types(slow.id) == [TaskEventType.STARTED]
    assert await view.pending() == 1  # left for another worker to claim


async def test_cancel_recorded_by_another_worker_is_honoured_with_a_zero_check_window(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    q = keys.queue("default")
    worker = make_worker(cancel_check_window=0)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    first = await enqueue("demo.echo", 1)

    async def finished(task_id: str) -> bool:
        events = await view.event_types(task_id)
        return TaskEventType.SUCCEEDED in events or TaskEventType.CANCELLED in events

    await eventually(lambda: finished(first.id), "first task done")  # a commit saw no cancels
    task = new_envelope("demo.echo", 2, "default")
    await redis.zadd(q.cancelled, {task.id: 4_102_444_800_000})  # as another worker records it
    await redis.xadd(q.tasks, task.to_fields())  # type: ignore[arg-type]
    await eventually(lambda: finished(task.id), "second task done")
    stop.set()
    await running
    assert await view.event_types(task.id) == [TaskEventType.CANCELLED]
