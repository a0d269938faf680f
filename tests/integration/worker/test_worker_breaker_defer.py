"""An open breaker defers tasks of its type through the timer stream without spending attempts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from conveyor.envelope import TaskEnvelope
from conveyor.handlers import Registry, TaskContext
from conveyor.timers import TimerKind
from conveyor_worker.testing import StreamView
from conveyor_worker.worker import Worker

MakeWorker = Callable[..., Worker]
Enqueue = Callable[..., Awaitable[TaskEnvelope]]


async def test_open_breaker_defers_the_rest_of_the_batch_at_the_same_attempt(
    make_worker: MakeWorker, enqueue: Enqueue, view: StreamView
) -> None:
    registry = Registry()

    @registry.handler("t.down", max_attempts=10)
    async def down(ctx: TaskContext, payload: object) -> None:
        raise ConnectionRefusedError

    tasks = [await enqueue("t.down", n) for n in range(5)]
    worker = make_worker(
        registry=registry,
        batch=1,
        concurrency=1,  # one at a time: each outcome is counted before the next admission
        breaker_enabled=True,
        breaker_min_volume=2,
        breaker_failure_ratio=0.5,
        breaker_open=60,
    )
    await worker.run(burst=True)
    timers = {t.envelope.id: t for t in await view.timers()}
    kinds = [timers[t.id].kind for t in tasks]
    assert kinds == [TimerKind.RETRY] * 2 + [TimerKind.DEFERRED] * 3
    assert [timers[t.id].envelope.attempt for t in tasks] == [2, 2, 1, 1, 1]
    assert await view.pending() == 0
