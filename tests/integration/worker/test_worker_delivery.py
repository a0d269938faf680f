"""Delivery and outcome commits: success, retries, dead letters, bad entries."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from conveyor.deadletter import DeadReason
from conveyor.envelope import TaskEnvelope
from conveyor.events import TaskEventType
from conveyor.keys import Keys
from conveyor.timers import TimerKind
from conveyor_worker.testing import StreamView, xrange
from conveyor_worker.worker import Worker

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]


async def test_success_acks_and_publishes_started_then_succeeded_with_result(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    task = await enqueue("demo.echo", {"hello": "world"})
    await make_worker().run(burst=True)
    events = [e for e in await view.events() if e.task_id == task.id]
    assert [e.event for e in events] == [TaskEventType.STARTED, TaskEventType.SUCCEEDED]
    assert json.loads(events[1].result or "") == {"hello": "world"}
    assert await view.pending() == 0


async def test_failure_with_attempts_left_sets_a_retry_timer_for_the_next_attempt(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    task = await enqueue("demo.fail", {"times": 1})
    await make_worker().run(burst=True)
    timers = await view.timers()
    assert len(timers) == 1
    assert timers[0].kind is TimerKind.RETRY
    assert timers[0].envelope.id == task.id
    assert timers[0].envelope.attempt == 2
    retrying = [e for e in await view.events() if e.event is TaskEventType.RETRYING]
    assert retrying[0].due_ms == timers[0].due_ms
    assert "demo failure" in (retrying[0].error or "")
    assert await view.pending() == 0


async def test_retry_then_success_when_the_timer_is_promoted(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    task = await enqueue("demo.fail", {"times": 1})
    await make_worker().run(burst=True)
    # Play the scheduler: promote the retry timer to the task stream.
    timer = (await view.timers())[0]
    await redis.xadd(keys.queue("default").tasks, timer.envelope.to_fields())  # type: ignore[arg-type]
    await make_worker().run(burst=True)
    assert await view.event_types(task.id) == [
        TaskEventType.STARTED,
        TaskEventType.RETRYING,
        TaskEventType.STARTED,
        TaskEventType.SUCCEEDED,
    ]


async def test_retries_exhausted_goes_to_dead_letters_with_reason_and_attempts(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    task = await enqueue("demo.fail", {"times": 9}, max_attempts=1)
    await make_worker().run(burst=True)
    dead = await view.dead()
    assert len(dead) == 1
    assert dead[0].reason is DeadReason.EXHAUSTED
    assert dead[0].attempts == 1
    assert "demo failure" in dead[0].error
    assert dead[0].task_fields["id"] == task.id
    assert await view.event_types(task.id) == [TaskEventType.STARTED, TaskEventType.DEAD]
    assert await view.timers() == []
    assert await view.pending() == 0


async def test_undecodable_entry_is_dead_lettered_and_the_worker_keeps_going(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    await redis.xadd(keys.queue("default").tasks, {"v": "1", "id": "x", "type": "demo.echo"})
    await redis.xadd(keys.queue("default").tasks, {b"v": b"1", b"junk": b"\xff\xfe"})
    good = await enqueue("demo.echo", 1)
    await make_worker().run(burst=True)
    dead = await view.dead()
    assert [d.reason for d in dead] == [DeadReason.UNDECODABLE, DeadReason.UNDECODABLE]
    assert "data" in dead[0].error
    raw = await xrange(redis, keys.queue("default").dead)
    assert raw[1][1][b"junk"] == b"\xff\xfe"  # kept byte for byte
    assert TaskEventType.SUCCEEDED in await view.event_types(good.id)
    assert await view.pending() == 0


async def test_unknown_task_type_is_dead_lettered(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    task = await enqueue("no.such.type", {})
    await make_worker().run(burst=True)
    dead = await view.dead()
    assert dead[0].reason is DeadReason.UNKNOWN_TYPE
    assert await view.event_types(task.id) == [TaskEventType.DEAD]
    assert await view.pending() == 0


async def test_invalid_payload_is_dead_lettered_without_retry_with_the_validation_message(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    await enqueue("demo.ledger", {"account": "a", "amount": "lots"})
    await make_worker().run(burst=True)
    dead = await view.dead()
    assert dead[0].reason is DeadReason.INVALID_PAYLOAD
    assert "amount" in dead[0].error
    assert await view.timers() == []


async def test_timeout_cancels_the_handler_and_counts_as_a_retryable_failure(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    task = await enqueue("demo.sleep", {"seconds": 30}, timeout=0.2)
    await make_worker().run(burst=True)
    timers = await view.timers()
    assert [t.envelope.id for t in timers] == [task.id]
    retrying = [e for e in await view.events() if e.event is TaskEventType.RETRYING]
    assert "timeout" in (retrying[0].error or "")
    assert await view.pending() == 0


async def test_many_tasks_are_committed_in_batches(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    tasks = [await enqueue("demo.echo", n) for n in range(300)]
    await make_worker(batch=64, concurrency=100).run(burst=True)
    succeeded = {e.task_id for e in await view.events() if e.event is TaskEventType.SUCCEEDED}
    assert succeeded == {t.id for t in tasks}
    assert await view.pending() == 0
