"""An idle worker process stops promptly on SIGTERM: its blocked read does not hold it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope
from conveyor.events import TaskEventType
from conveyor.keys import Keys
from conveyor.streams import Group, ensure_group
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker
from waiting import wait_for

Enqueue = Callable[..., Awaitable[TaskEnvelope]]

# The default XREADGROUP block is 1,000 ms: an exit bound well under it proves the
# blocked read is ended by the stop, not waited out.
EXIT_WITHIN_S = 0.5


async def _blocked_reads(redis: Redis) -> int:
    """Connections blocked in XREADGROUP (CLIENT LIST ``flags=b``)."""
    clients = await redis.client_list()
    return sum(1 for c in clients if c.get("cmd") == "xreadgroup" and "b" in str(c.get("flags")))


async def test_idle_worker_process_exits_within_half_a_second_of_sigterm(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CONVEYOR_REDIS_URL": redis_url,
        "CONVEYOR_KEY_PREFIX": keys.prefix,
        "CONVEYOR_WORKER_HANDLERS": "conveyor_worker.examples",
        "CONVEYOR_WORKER_METRICS_PORT": "0",
        "CONVEYOR_LOG_FORMAT": "json",
        "CONVEYOR_LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "conveyor_worker", env=env, stdout=out, stderr=out
        )
    try:
        stream = keys.queue("default").tasks

        async def reading() -> bool:
            # The group exists once the worker set up; then its reads block (Redis < 7.2
            # lists a consumer only after it was served, so ask CLIENT LIST).
            if not await redis.exists(stream) or not await redis.xinfo_groups(stream):
                return False
            return await _blocked_reads(redis) > 0

        await wait_for(reading, within=30, what="the worker blocked in its read")
        sent = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(worker.wait(), 30)
        took = time.monotonic() - sent
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert code == 0, log.read_text()
    assert took < EXIT_WITHIN_S, f"exited {took:.3f} s after SIGTERM"


async def test_entries_a_stopped_read_was_handed_are_run_before_the_worker_exits(
    redis: Redis,
    keys: Keys,
    make_worker: Callable[..., Worker],
    enqueue: Enqueue,
    view: StreamView,
) -> None:
    """A stop cancels the blocked read; what the server had handed it (here: an entry
    delivered to this consumer before it started) is read back and run in the grace."""
    stream = keys.queue("default").tasks
    await ensure_group(redis, stream, Group.WORKERS)
    task = await enqueue("demo.echo", {"n": 1})
    handed = await redis.xreadgroup(Group.WORKERS, "c1", {stream: ">"}, count=10)
    assert handed  # pending for c1, held by no running task
    worker = make_worker(consumer="c1", block_ms=5000)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await wait_for(lambda: _blocked_reads(redis), within=30, what="the worker blocked")
    stop.set()
    await asyncio.wait_for(running, 30)
    assert TaskEventType.SUCCEEDED in await view.event_types(task.id)
    assert (await redis.xpending(stream, Group.WORKERS))["pending"] == 0
