"""Several replicas at once: every instant fires exactly once, also when one of them dies."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.keys import Keys, fire_scope
from conveyor.schedules import ChangeOp, ScheduleDefinition, change_fields
from conveyor.timers import TimerKind, timer_fields
from conveyor_scheduler.clock import RedisClock
from conveyor_scheduler.metrics import SchedulerMetrics
from conveyor_scheduler.runner import run_loop
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_scheduler.testing import tasks, xadd
from waiting import wait_for

T0 = 1_795_766_400_000  # 2026-11-27T08:00:00Z

ReplicaFactory = Callable[..., Scheduler]


def schedule(schedule_id: str, cron: str, created_at_ms: int) -> ScheduleDefinition:
    """A schedule that enqueues demo.echo."""
    return ScheduleDefinition.model_validate(
        {
            "id": schedule_id,
            "cron": cron,
            "task": {"type": "demo.echo"},
            "created_at_ms": created_at_ms,
        }
    )


async def test_three_replicas_with_skewed_clocks_fire_each_instant_once_when_one_dies(
    redis: Redis, keys: Keys, make_replica: ReplicaFactory
) -> None:
    every = schedule("every-1s", "@every 1s", T0 - 500)
    even = schedule("even-seconds", "*/2 * * * * *", T0)
    for definition in (every, even):
        fields = change_fields(ChangeOp.UPSERT, definition.id, T0, "api", definition)
        await xadd(redis, keys.schedule_changes, fields)
    replicas = {name: make_replica(name) for name in ("a", "b", "c")}
    skew = {"a": -40, "b": 0, "c": 35}  # ms: replicas' views of now differ a little
    order = random.Random(5)  # noqa: S311 - a reproducible shuffle, not cryptography
    for step in range(0, 300):
        now = T0 + step * 100
        alive = [name for name in replicas if name != "c" or now < T0 + 15_000]
        order.shuffle(alive)
        # Replicas run concurrently, as separate processes would.
        await asyncio.gather(*(replicas[name].tick(now + skew[name]) for name in alive))
    fired = Counter(t.idempotency_key for t in await tasks(redis, keys.queue("default")))
    assert max(fired.values()) == 1
    expected_every = {fire_scope("every-1s", T0 + 500 + n * 1_000) for n in range(30)}
    expected_even = {fire_scope("even-seconds", T0 + n * 2_000) for n in range(1, 15)}
    assert set(fired) == expected_every | expected_even


async def test_run_loop_on_server_time_promotes_a_delayed_task_and_stops_on_request(
    redis: Redis, keys: Keys
) -> None:
    settings = SchedulerSettings(consumer="loop", poll_interval_ms=50)
    scheduler = Scheduler(redis, keys, settings)
    clock = RedisClock(redis)
    envelope = new_envelope("demo.echo", None, "default")
    due = await clock.now_ms() + 300
    await xadd(
        redis, keys.queue("default").timers_in, timer_fields(envelope, due, TimerKind.DELAYED)
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(run_loop(scheduler, clock, settings, stop))

    async def promoted() -> bool:
        return [t.id for t in await tasks(redis, keys.queue("default"))] == [envelope.id]

    await wait_for(promoted, within=30, what="delayed task promoted")
    stop.set()
    await asyncio.wait_for(loop, 10)
    assert await clock.now_ms() >= due


class FlakyClock:
    """Redis server time, except that the first reads fail as if Redis were away."""

    def __init__(self, clock: RedisClock, failures: int) -> None:
        self._clock = clock
        self.failures = failures

    async def now_ms(self) -> int:
        if self.failures > 0:
            self.failures -= 1
            msg = "connection refused (simulated)"
            raise redis_errors.ConnectionError(msg)
        return await self._clock.now_ms()


async def test_run_loop_survives_redis_errors_and_carries_on(redis: Redis, keys: Keys) -> None:
    settings = SchedulerSettings(consumer="loop", poll_interval_ms=50)
    scheduler = Scheduler(redis, keys, settings)
    clock = FlakyClock(RedisClock(redis), failures=2)
    envelope = new_envelope("demo.echo", None, "default")
    timer = timer_fields(envelope, 0, TimerKind.DELAYED)
    await xadd(redis, keys.queue("default").timers_in, timer)
    metrics = SchedulerMetrics()
    stop = asyncio.Event()
    loop = asyncio.create_task(run_loop(scheduler, clock, settings, stop, metrics))

    async def promoted() -> bool:
        return [t.id for t in await tasks(redis, keys.queue("default"))] == [envelope.id]

    await wait_for(promoted, within=30, what="promotion after errors")
    stop.set()
    await asyncio.wait_for(loop, 10)
    assert clock.failures == 0
    sample = metrics.registry.get_sample_value
    assert sample("conveyor_scheduler_pass_errors_total") == 2
    assert sample("conveyor_scheduler_timers_promoted_total") == 1
