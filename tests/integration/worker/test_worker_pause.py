"""Queue pause: tasks wait while the worker runs; held ones finish; resume runs them all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from conveyor.events import TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor.pausing import pause_queue, resume_queue
from conveyor.streams import Group, find_group
from conveyor_worker.testing import StreamView, read_as
from conveyor_worker.worker import Worker
from waiting import wait_for


async def lag(redis: Redis, keys: Keys) -> int:
    """Entries of the default queue not yet delivered to the workers group."""
    group = find_group(await redis.xinfo_groups(keys.queue("default").tasks), Group.WORKERS.value)
    assert group is not None
    return int(group["lag"])


async def succeeded(view: StreamView) -> set[str]:
    """Ids of the tasks with a succeeded event."""
    return {e.task_id for e in await view.events() if e.event is TaskEventType.SUCCEEDED}


async def checks_after(worker: Worker, count: int) -> None:
    """Wait until the worker has read the paused state ``count`` more times."""
    target = worker.pause.reads + count
    await wait_for(lambda: worker.pause.reads >= target, what=f"{count} pause checks")


async def test_paused_queue_keeps_tasks_waiting_while_held_tasks_finish_and_resume_runs_them(
    redis: Redis,
    keys: Keys,
    make_worker: Callable[..., Worker],
    enqueue: Any,
    view: StreamView,
) -> None:
    registry = Registry()
    release = asyncio.Event()

    @registry.handler("t.work")
    async def work(ctx: TaskContext, payload: Any) -> Any:
        if payload == "hold":
            await release.wait()
        return payload

    worker = make_worker(registry, pause_check_interval=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    held = [await enqueue("t.work", "hold") for _ in range(2)]
    [queue] = worker.queues
    await wait_for(lambda: len(queue.dispatcher.in_flight) == 2, what="two tasks held")

    _, changed = await pause_queue(redis, keys, "default", "test", 1)
    assert changed
    await checks_after(worker, 2)
    waiting = [await enqueue("t.work", n) for n in range(20)]
    release.set()
    held_ids = {task.id for task in held}

    async def held_done() -> bool:
        return held_ids <= await succeeded(view)

    await wait_for(held_done, what="the held tasks finished while paused")
    await checks_after(worker, 3)  # the worker kept running and kept looking
    assert await lag(redis, keys) == 20
    assert await view.pending() == 0
    assert await succeeded(view) == held_ids

    assert await resume_queue(redis, keys, "default")
    every_id = held_ids | {task.id for task in waiting}

    async def all_done() -> bool:
        return await succeeded(view) == every_id

    await wait_for(all_done, what="every task succeeded after resume")
    stop.set()
    await asyncio.wait_for(running, 30)


async def test_paused_queue_is_not_reclaimed_from_a_dead_consumer(
    redis: Redis, keys: Keys, make_worker: Callable[..., Worker], enqueue: Any, view: StreamView
) -> None:
    """Claiming a stalled entry starts it: a paused queue's stalled entries wait as well."""
    fast = {"pause_check_interval": 0.05, "visibility_timeout": 0.05, "reclaim_interval": 0.05}
    worker = make_worker(**fast)
    [queue] = worker.queues
    await queue.setup()
    task = await enqueue("demo.echo", 1)
    assert await read_as(redis, keys.queue("default").tasks, "dead-consumer")
    await pause_queue(redis, keys, "default", "test", 1)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await checks_after(worker, 6)  # reclaim passes ran meanwhile (same interval)
    [row] = await redis.xpending_range(keys.queue("default").tasks, Group.WORKERS, "-", "+", 10)
    assert row["consumer"] == b"dead-consumer"
    assert await succeeded(view) == set()

    await resume_queue(redis, keys, "default")

    async def ran() -> bool:
        return await succeeded(view) == {task.id}

    await wait_for(ran, what="the reclaimed task ran after resume")
    stop.set()
    await asyncio.wait_for(running, 30)
