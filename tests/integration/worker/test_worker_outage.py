"""Redis outage: the worker keeps its outcomes, retries the commits and resumes by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.events import TaskEventType
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor.localserver import LocalServer
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker
from waiting import wait_for


async def eventually(probe: Callable[[], Awaitable[object]], what: str, within: float = 60) -> None:
    """``waiting.wait_for`` for an async probe (its annotation trips mypy's inference)."""
    await wait_for(probe, within=within, interval=0.05, what=what)


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[LocalServer]:
    """A server of this test's own, which the test stops and restarts (AOF keeps data)."""
    server = LocalServer(tmp_path / "redis", kind="redis").start()
    yield server
    server.stop()


async def test_commits_survive_a_redis_restart_and_the_worker_resumes(
    own_server: LocalServer, keys: Keys
) -> None:
    gate = asyncio.Event()
    registry = Registry()

    @registry.handler("t.gated")
    async def gated(ctx: TaskContext, payload: int) -> int:
        await gate.wait()
        return payload

    client = Redis.from_url(own_server.url)
    q = keys.queue("default")
    view = StreamView(client, q)
    settings = WorkerSettings(block_ms=50, breaker_enabled=False)
    worker = Worker(client, settings, registry, keys)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        tasks = [new_envelope("t.gated", n, "default") for n in range(3)]
        for task in tasks:
            await client.xadd(q.tasks, task.to_fields())  # type: ignore[arg-type]

        async def all_have(event: TaskEventType) -> bool:
            try:
                return all([event in await view.event_types(t.id) for t in tasks])
            except (ConnectionError, OSError):
                return False

        await eventually(lambda: all_have(TaskEventType.STARTED), "tasks started")
        own_server.stop()  # Redis goes away while the handlers are running
        gate.set()  # they finish now: their commits cannot reach Redis
        dispatcher = worker.queues[0].dispatcher

        def finished_but_uncommitted() -> bool:
            jobs = list(dispatcher.in_flight.values())
            return len(jobs) == len(tasks) and all(j and j.started and not j.running for j in jobs)

        await wait_for(finished_but_uncommitted, what="outcomes kept while Redis is down")
        assert not running.done()
        own_server.start()  # same port, same AOF
        await eventually(lambda: all_have(TaskEventType.SUCCEEDED), "commits after the restart")
        late = new_envelope("t.gated", 9, "default")
        await client.xadd(q.tasks, late.to_fields())  # type: ignore[arg-type]

        async def late_done() -> bool:
            return TaskEventType.SUCCEEDED in await view.event_types(late.id)

        await eventually(late_done, "a task added after the outage ran")
        assert await view.pending() == 0
    finally:
        stop.set()
        gate.set()
        await asyncio.wait_for(running, 30)
        await client.aclose()
