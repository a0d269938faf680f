"""Worker heartbeats: a running worker is listed, a stopped one is not, a killed one expires."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor.workers import WorkerRecord, list_workers
from conveyor_worker.worker import Worker
from waiting import wait_for


async def listed(redis: Redis, keys: Keys) -> dict[str, WorkerRecord]:
    """The live workers by consumer name."""
    return {record.consumer: record for record in await list_workers(redis, keys)}


async def test_running_worker_is_listed_with_its_tasks_in_flight_and_removed_on_a_clean_stop(
    redis: Redis, keys: Keys, make_worker: Callable[..., Worker], enqueue: Any
) -> None:
    registry = Registry()
    release = asyncio.Event()

    @registry.handler("t.hold")
    async def hold(ctx: TaskContext, payload: Any) -> None:
        await release.wait()

    worker = make_worker(registry, heartbeat_interval=0.05, concurrency=7)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await enqueue("t.hold", None)

    async def holding_one() -> WorkerRecord | None:
        record = (await listed(redis, keys)).get(worker.consumer)
        return record if record is not None and record.in_flight == 1 else None

    found = await wait_for(holding_one, what="heartbeat with one task in flight")
    assert found is not None
    record: WorkerRecord = found
    assert (record.queues, record.concurrency, record.pid) == (("default",), 7, os.getpid())
    assert record.heartbeat_ms >= record.started_ms
    assert record.ttl_ms == 150
    release.set()
    stop.set()
    await asyncio.wait_for(running, 30)
    assert await listed(redis, keys) == {}
    assert not await redis.exists(keys.worker_heartbeat(worker.consumer), keys.worker_index)


async def test_killed_worker_process_disappears_once_its_heartbeat_expires(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_WORKER_HEARTBEAT_INTERVAL": "0.2",
    }
    with (tmp_path / "worker.log").open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "conveyor_worker",
            env=env, stdout=log_file, stderr=log_file, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    try:

        async def the_process() -> list[WorkerRecord]:
            return [r for r in (await listed(redis, keys)).values() if r.pid == process.pid]

        [record] = await wait_for(the_process, within=60, what="the worker process listed")
        process.send_signal(signal.SIGKILL)
        await process.wait()

        async def gone() -> bool:
            return record.consumer not in await listed(redis, keys)

        await wait_for(gone, within=30, what="the killed worker's heartbeat expired")
        assert not await redis.exists(keys.worker_heartbeat(record.consumer))
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
