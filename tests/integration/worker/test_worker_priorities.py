"""Priority levels in the worker: high first by weight, low never starved."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from conveyor.control import cancel_fields
from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys, QueueKeys
from conveyor.priority import Priority
from conveyor.streams import Group, ensure_group
from conveyor.telemetry.queues import QueueStats
from conveyor_worker.stranded import stranded_streams
from conveyor_worker.testing import StreamView, pending_idle_past, read_as
from conveyor_worker.worker import Worker
from waiting import wait_for

MakeWorker = Callable[..., Worker]
# Each task holds its slot this long, so slots (not the loop) decide what starts.
WORK_S = 0.002


def _recording_registry(done: list[str]) -> Registry:
    registry = Registry()

    @registry.handler("prio.work")
    async def work(ctx: TaskContext, payload: Any) -> None:
        await asyncio.sleep(WORK_S)
        done.append(payload)

    return registry


async def _add(redis: Redis, qk: QueueKeys, level: Priority, count: int) -> None:
    stream = qk.at_level(level).tasks
    async with redis.pipeline(transaction=False) as pipe:
        for _ in range(count):
            envelope = new_envelope("prio.work", level.value, qk.queue, priority=level)
            pipe.xadd(stream, envelope.to_fields())  # type: ignore[arg-type]
        await pipe.execute()


async def test_ten_high_tasks_behind_5000_low_finish_within_the_first_tenth(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    qk = keys.queue("default")
    done: list[str] = []
    await _add(redis, qk, Priority.LOW, 5000)
    await _add(redis, qk, Priority.HIGH, 10)
    worker = make_worker(_recording_registry(done), concurrency=20, batch=50)
    await worker.run(burst=True)
    assert len(done) == 5010
    last_high = max(i for i, level in enumerate(done) if level == "high")
    low_before = done[:last_high].count("low")
    figure = f"low tasks finished when the last high one finished: {low_before} of 5000"
    print(f"\n{figure}")  # noqa: T201 - the issue's figure, shown with -s
    assert low_before < 500


async def test_high_tasks_arriving_during_a_low_backlog_overtake_it(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    qk = keys.queue("default")
    done: list[str] = []
    await _add(redis, qk, Priority.LOW, 5000)
    worker = make_worker(_recording_registry(done), concurrency=20, batch=50)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(lambda: len(done) >= 200, what="the low backlog is being worked")
        start = len(done)
        await _add(redis, qk, Priority.HIGH, 10)
        await wait_for(lambda: done.count("high") == 10, what="every high task finished")
        low_between = done[start:].count("low")
    finally:
        stop.set()
        await running
    figure = f"low tasks finished between the high enqueue and the last high: {low_between}"
    print(f"\n{figure}")  # noqa: T201 - the issue's figure, shown with -s
    assert low_between < 500


async def test_low_tasks_progress_at_their_weight_under_a_steady_high_load(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    qk = keys.queue("default")
    done: list[str] = []
    await _add(redis, qk, Priority.HIGH, 4000)
    await _add(redis, qk, Priority.LOW, 1000)
    worker = make_worker(_recording_registry(done), concurrency=14, batch=50)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(lambda: done.count("high") >= 1400, within=30, what="1,400 high done")
        highs, lows = done.count("high"), done.count("low")
    finally:
        stop.set()
        await running
    # With high and low both busy the slots split 6 : 1 (12 and 2 of 14).
    figure = f"steady high load: {lows} low per {highs} high (weights 1 : 6)"
    print(f"\n{figure}")  # noqa: T201 - the issue's figure, shown with -s
    assert highs < 4000  # high still had work the whole time
    assert highs / 12 <= lows <= highs / 3


async def test_a_cancel_recorded_by_this_process_stops_a_high_task(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    """The control loop (run by the normal level) tells the other levels' committers."""
    qk = keys.queue("default")
    high = qk.at_level(Priority.HIGH).tasks
    view = StreamView(redis, qk)
    worker = make_worker(cancel_check_window=60)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        first = new_envelope("demo.echo", 1, "default", priority="high")
        await redis.xadd(high, first.to_fields())  # type: ignore[arg-type]
        # Its commit shows the high level an empty cancelled set: trusted for 60 s.
        await wait_for(lambda: view.event_types(first.id), what="the first high task ran")
        doomed = new_envelope("demo.echo", 2, "default", priority="high")
        until = 4_102_444_800_000  # year 2100
        await redis.xadd(qk.control, cancel_fields(doomed.id, 1, until))  # type: ignore[arg-type]
        await wait_for(lambda: redis.zscore(qk.cancelled, doomed.id), what="cancel recorded")
        await redis.xadd(high, doomed.to_fields())  # type: ignore[arg-type]
        await wait_for(lambda: view.event_types(doomed.id), what="the cancelled task settled")
    finally:
        stop.set()
        await running
    assert await view.event_types(doomed.id) == [TaskEventType.CANCELLED]


async def test_queue_gauges_sum_the_priority_levels(redis: Redis, keys: Keys) -> None:
    qk = keys.queue("default")
    for level, count in ((Priority.HIGH, 2), (Priority.NORMAL, 1), (Priority.LOW, 3)):
        await ensure_group(redis, qk.at_level(level).tasks, Group.WORKERS.value)
        await _add(redis, qk, level, count)
    await redis.xreadgroup(Group.WORKERS.value, "c1", {qk.at_level("low").tasks: ">"}, count=1)
    registry = CollectorRegistry()
    await QueueStats(redis, keys, registry).sample()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"queue": "default", **labels})

    assert value("conveyor_queue_stream_length", stream="tasks") == 6
    assert (value("conveyor_queue_group_lag"), value("conveyor_queue_pending")) == (5, 1)


async def test_a_stranded_partitions_high_stream_is_reported(redis: Redis, keys: Keys) -> None:
    beyond = QueueKeys(keys.prefix, "default", 5)
    await ensure_group(redis, beyond.at_level("high").tasks, Group.WORKERS.value)
    await _add(redis, beyond, Priority.HIGH, 1)
    assert await stranded_streams(redis, keys) == [beyond.at_level("high").tasks]


async def test_a_dead_consumers_high_and_low_entries_are_claimed_and_acked_on_their_streams(
    redis: Redis, keys: Keys, make_worker: MakeWorker
) -> None:
    qk = keys.queue("default")
    view = StreamView(redis, qk)
    ids = {}
    for level in (Priority.HIGH, Priority.LOW):
        stream = qk.at_level(level).tasks
        await ensure_group(redis, stream, Group.WORKERS.value)
        envelope = new_envelope("demo.echo", level.value, "default", priority=level)
        await redis.xadd(stream, envelope.to_fields())  # type: ignore[arg-type]
        await read_as(redis, stream, "dead-consumer", 1)
        ids[level] = envelope.id

    async def both_idle() -> bool:
        streams = [qk.at_level(level).tasks for level in ids]
        return all([await pending_idle_past(redis, stream, 100) for stream in streams])

    await wait_for(both_idle, what="both entries idle past the visibility timeout")
    await make_worker(visibility_timeout=0.05).run(burst=True)
    for level, task_id in ids.items():
        assert await view.event_types(task_id) == [TaskEventType.STARTED, TaskEventType.SUCCEEDED]
        pending = await redis.xpending(qk.at_level(level).tasks, Group.WORKERS.value)
        assert pending["pending"] == 0
