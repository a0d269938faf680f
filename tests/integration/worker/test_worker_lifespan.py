"""Handler lifespans: shared resources opened once per worker, reaching handlers typed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope
from conveyor.errors import StartupError
from conveyor.events import TaskEventType
from conveyor.handlers import Registry, ResourceKey, Resources, TaskContext
from conveyor.keys import Keys
from conveyor.service import EXIT_STARTUP
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker
from waiting import wait_for

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]

COUNTER = ResourceKey("counter", Redis)


def _counting_registry(redis_url: str, log: list[str]) -> Registry:
    registry = Registry()

    @registry.lifespan
    async def shared_client(resources: Resources) -> AsyncIterator[None]:
        client = Redis.from_url(redis_url)
        resources[COUNTER] = client
        log.append("opened")
        try:
            yield
        finally:
            log.append("closing")
            await client.aclose()

    @registry.handler("t.count")
    async def count(ctx: TaskContext, payload: str) -> int:
        log.append("ran")
        return int(await ctx.resources[COUNTER].incr(payload))

    return registry


async def test_handlers_share_the_client_their_lifespan_opened_once(
    redis: Redis,
    redis_url: str,
    keys: Keys,
    make_worker: MakeWorker,
    enqueue: Enqueue,
    view: StreamView,
) -> None:
    log: list[str] = []
    counter = f"{keys.prefix}:counted"
    for _ in range(5):
        await enqueue("t.count", counter)
    worker = make_worker(registry=_counting_registry(redis_url, log))
    await worker.run(burst=True)
    assert await redis.get(counter) == b"5"
    assert log == ["opened", *["ran"] * 5, "closing"]
    results = sorted(int(e.result or 0) for e in await view.events() if e.result)
    assert results == [1, 2, 3, 4, 5]
    assert COUNTER not in worker.resources  # closed and forgotten after serving


async def test_a_lifespan_that_fails_to_start_stops_the_worker_before_it_reads(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    log: list[str] = []
    registry = _counting_registry("redis://127.0.0.1:1", log)  # the first one opens fine

    @registry.lifespan
    async def broken(resources: Resources) -> AsyncIterator[None]:
        refused = "database refused the connection"
        if resources:  # always: the yield below only makes this an async generator
            raise ConnectionError(refused)
        yield

    await enqueue("t.count", "x")
    with pytest.raises(StartupError) as caught:
        await make_worker(registry=registry).run(burst=True)
    assert str(caught.value) == (
        f"handler lifespan {__name__}.test_a_lifespan_that_fails_to_start_stops_the_worker_"
        "before_it_reads.<locals>.broken failed to start: "
        "ConnectionError: database refused the connection"
    )
    assert log == ["opened", "closing"]  # what had started was closed again
    assert not await redis.exists(keys.queue("default").control)  # no group made, nothing read
    assert await view.events() == []


async def test_lifespan_closes_after_the_grace_period_running_tasks_still_use_it(
    redis: Redis, redis_url: str, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue
) -> None:
    log: list[str] = []
    registry = _counting_registry(redis_url, log)
    gate = asyncio.Event()

    @registry.handler("t.gated")
    async def gated(ctx: TaskContext, payload: str) -> int:
        log.append("waiting")
        await gate.wait()
        return int(await ctx.resources[COUNTER].incr(payload))

    task = await enqueue("t.gated", f"{keys.prefix}:gated")
    worker = make_worker(registry=registry, shutdown_grace=30)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await wait_for(lambda: "waiting" in log, what="the handler is running")
    stop.set()  # shutdown starts with the handler still running: it gets the grace period
    gate.set()
    await asyncio.wait_for(running, 30)
    assert log == ["opened", "waiting", "closing"]
    assert await redis.get(f"{keys.prefix}:gated") == b"1"
    assert TaskEventType.SUCCEEDED in await StreamView(redis, keys.queue("default")).event_types(
        task.id
    )


def test_the_service_exits_with_one_line_and_code_3_when_a_lifespan_fails(
    redis_url: str, keys: Keys, tmp_path: Path
) -> None:
    (tmp_path / "failing_tasks.py").write_text(
        textwrap.dedent(
            """
            from conveyor.handlers import Registry

            registry = Registry()

            @registry.lifespan
            async def database(resources):
                raise OSError("no route to the database")
                yield
            """
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_WORKER_HANDLERS": "failing_tasks",
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [sys.executable, "-m", "conveyor_worker"],
        env=env, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_STARTUP
    lines = done.stderr.decode().splitlines()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert [line for line in lines if not line.startswith("{")] == [
        "conveyor-worker: handler lifespan failing_tasks.database failed to start: "
        "OSError: no route to the database"
    ]
    assert "worker_started" not in [line.get("event") for line in logged]
