"""A running worker applies run-time limits (conveyor.limits) within a second: per-type
breaker settings and rate limits, without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from conveyor.envelope import TaskEnvelope
from conveyor.handlers import Registry, TaskContext
from conveyor.keys import Keys
from conveyor.limits import LimitsDocument, write_limits
from conveyor.rates import Rate
from conveyor.timers import TimerKind
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker
from waiting import wait_for

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]


async def test_a_running_worker_takes_a_changed_breaker_and_rate_within_a_second(
    redis: Redis, keys: Keys, make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry = Registry()

    @registry.handler("t.down", max_attempts=10)
    async def down(ctx: TaskContext, payload: object) -> None:
        raise ConnectionRefusedError

    worker = make_worker(registry=registry, batch=1, concurrency=1)  # breakers off by settings
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(lambda: worker.limits_watcher.current.version == 0, what="worker started")
        assert worker.breakers.get("t.down") is None
        document = LimitsDocument.model_validate(
            {
                "task_types": {
                    "t.down": {"breaker": {"enabled": True, "min_volume": 2, "open": 60}},
                    "t.mail": {"rate": 5, "burst": 2, "concurrency": 3},
                }
            }
        )
        await write_limits(redis, keys, document, "ops")
        changed = time.monotonic()
        await wait_for(
            lambda: worker.breakers.get("t.down") is not None, within=1.0, what="breaker on"
        )
        assert time.monotonic() - changed < 1.0
        mail = worker.type_limits.limit("t.mail")
        assert mail is not None
        assert (mail.rate, mail.concurrency) == (Rate(5.0, 2), 3)
        tasks = [await enqueue("t.down", n) for n in range(5)]

        async def settled() -> bool:
            return len(await view.timers()) == 5

        await wait_for(settled, within=20, what="every task retried or deferred")
    finally:
        stop.set()
        await running
    timers = {t.envelope.id: t for t in await view.timers()}
    kinds = [timers[t.id].kind for t in tasks]
    assert kinds == [TimerKind.RETRY] * 2 + [TimerKind.DEFERRED] * 3
    assert [timers[t.id].envelope.attempt for t in tasks] == [2, 2, 1, 1, 1]
