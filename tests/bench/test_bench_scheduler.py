"""Scheduler benchmark: timer promotion throughput and cron fire lateness.

Run with ``make bench``. Figures are printed and written with ``results.record``
to ``tests/bench/results/latest.json``:

- promotion of 100,000 timers due in the same second (timers/s), against a raw
  pipelined XADD loop of the same 100,000 task entries in the same run (the
  ratio says what the atomic remove + XADD + event costs over a bare XADD);
- intake of 100,000 timer messages into the index (timers/s);
- fire lateness p50/p99 (the task entry's server time minus its scheduled
  instant) of 1,000 schedules firing every second, run by the real pass loop on
  Redis server time for about 10 s; and, per instant, the lateness of its first
  fire (wake-up and send) and the time from its first to its last fire (the
  Redis work of the batch), as medians over the instants.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.keys import Keys
from conveyor.logging import configure_logging
from conveyor.schedules import ScheduleDefinition
from conveyor.settings import LogSettings
from conveyor.streams import entry_time_ms
from conveyor.timers import TimerKind, timer_fields
from conveyor_scheduler.clock import RedisClock
from conveyor_scheduler.entries import flatten
from conveyor_scheduler.intake import TimerIntake
from conveyor_scheduler.promoter import Promoter
from conveyor_scheduler.reading import GroupReader
from conveyor_scheduler.runner import run_loop
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_scheduler.testing import xrange
from results import record, table  # tests/bench is on sys.path at run time
from waiting import wait_for

TIMERS = 100_000
CHUNK = 2_000
BATCH = 1_000
SCHEDULES = 1_000
FIRE_SECONDS = 10
WARM_UP_MS = 2_000
DUE_MS = 1_795_766_400_000  # every timer is due within this one second


async def _pipelined(redis: Redis, commands: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(commands), CHUNK):
        async with redis.pipeline(transaction=False) as pipe:
            for command in commands[start : start + CHUNK]:
                pipe.execute_command(*command)
            await pipe.execute()


async def _raw_xadd_rate(redis: Redis, keys: Keys) -> float:
    """Baseline: the same task entries XADDed with plain pipelines (timers/s)."""
    template = new_envelope("bench.noop", {"n": 0}, "default")
    stream = f"{keys.queue('default').tag}:bench-raw"
    commands = [
        ("XADD", stream, "*", *flatten(replace(template, id=f"t{n}").to_fields()))
        for n in range(TIMERS)
    ]
    started = time.perf_counter()
    await _pipelined(redis, commands)
    return TIMERS / (time.perf_counter() - started)


async def _intake_rate(redis: Redis, keys: Keys) -> float:
    """Timer messages filed per second from timers-in (one script per batch of 1,000)."""
    queue = keys.queue("default")
    template = new_envelope("bench.noop", {"n": 0}, "default")
    commands = [
        ("XADD", queue.timers_in, "*", *flatten(timer_fields(
            replace(template, id=f"t{n}"), DUE_MS + n % 1_000, TimerKind.DELAYED
        )))
        for n in range(TIMERS)
    ]  # fmt: skip
    await _pipelined(redis, commands)
    intake = TimerIntake(redis, queue, GroupReader(redis, queue.timers_in, "bench", BATCH, 60_000))
    started = time.perf_counter()
    filed = 0
    while filed < TIMERS:
        filed += (await intake.run_once(DUE_MS - 1)).filed
    return TIMERS / (time.perf_counter() - started)


async def _promotion_rate(redis: Redis, keys: Keys) -> float:
    """Timers promoted per second, all due in the same second."""
    queue = keys.queue("default")
    assert await redis.zcard(queue.timer_index) == TIMERS
    promoter = Promoter(redis, queue, BATCH)
    started = time.perf_counter()
    promoted = 0
    while promoted < TIMERS:
        promoted += (await promoter.promote_due(DUE_MS + 1_000)).promoted
    elapsed = time.perf_counter() - started
    assert await redis.xlen(queue.tasks) == TIMERS
    return TIMERS / elapsed


async def test_bench_scheduler_timer_promotion(
    redis: Redis, keys: Keys, request: pytest.FixtureRequest
) -> None:
    server = request.node.callspec.params.get("redis_url", "server")
    raw = await _raw_xadd_rate(redis, keys)
    intake = await _intake_rate(redis, keys)
    promotion = await _promotion_rate(redis, keys)
    rows = [
        record(
            f"scheduler.{server}: timer promotion", promotion, "timers/s", "raw pipelined XADD", raw
        ),
        record(f"scheduler.{server}: timer intake", intake, "timers/s", "raw pipelined XADD", raw),
    ]
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
    assert promotion >= 20_000, f"promotion {promotion:.0f} timers/s is under the 20,000 target"


def _every_second(n: int, created_at_ms: int) -> ScheduleDefinition:
    return ScheduleDefinition.model_validate(
        {
            "id": f"bench-{n}",
            "cron": "* * * * * *",
            "task": {"type": "bench.noop"},
            "created_at_ms": created_at_ms,
        }
    )


def _percentile(values: list[int], fraction: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def test_bench_scheduler_fire_lateness(
    redis: Redis, keys: Keys, request: pytest.FixtureRequest
) -> None:
    server = request.node.callspec.params.get("redis_url", "server")
    configure_logging(LogSettings(level="WARNING"))  # as the service runs: no per-fire lines
    settings = SchedulerSettings(consumer="bench", batch=BATCH)
    scheduler = Scheduler(redis, keys, settings)
    clock = RedisClock(redis)
    start = await clock.now_ms()
    await scheduler.store.apply_file([_every_second(n, start) for n in range(SCHEDULES)], start)
    stop = asyncio.Event()
    loop = asyncio.create_task(run_loop(scheduler, clock, settings, stop))
    stream = keys.queue("default").tasks

    async def ran_long_enough() -> bool:
        return await redis.xlen(stream) >= SCHEDULES * FIRE_SECONDS

    try:
        await wait_for(ran_long_enough, within=120, what="fires")
    finally:
        stop.set()
        await asyncio.wait_for(loop, 30)
    lateness = []
    by_instant: dict[int, list[int]] = {}
    for entry_id, fields in await xrange(redis, stream):
        instant = int(fields[b"idempotency_key"].rsplit(b":", 1)[1])
        if instant >= start + WARM_UP_MS:
            lateness.append(entry_time_ms(entry_id) - instant)
            by_instant.setdefault(instant, []).append(lateness[-1])
    p50, p99 = _percentile(lateness, 0.5), _percentile(lateness, 0.99)
    # What lateness is made of: the first fire of an instant shows the wake-up and send,
    # the spread to the last one the Redis work of the whole batch.
    first = _percentile([min(late) for late in by_instant.values()], 0.5)
    spread = _percentile([max(late) - min(late) for late in by_instant.values()], 0.5)
    rows = [
        record(f"scheduler.{server}: fire lateness p50 (1,000 schedules/s)", p50, "ms"),
        record(f"scheduler.{server}: fire lateness p99 (1,000 schedules/s)", p99, "ms"),
        record(
            f"scheduler.{server}: fire lateness, first fire of an instant (median)", first, "ms"
        ),
        record(
            f"scheduler.{server}: fire lateness, first to last fire of an instant (median)",
            spread,
            "ms",
        ),
    ]
    print("\n" + table(rows))  # noqa: T201 - the benchmark's report
    # The target is p99 < 50 ms (docs/scheduler.md gives measured figures). On a shared
    # 2-core machine the figure moves with the load, so the hard limit here is a sanity bound.
    assert p99 < 250, f"fire lateness p99 {p99} ms"
