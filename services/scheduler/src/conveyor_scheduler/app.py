"""The scheduler service's lifecycle: connect, apply the schedules file, run passes until stopped.

Each pass reads Redis server time (so every replica agrees on now), runs
``Scheduler.tick`` and then waits until the earliest of: the next due timer or
cron instant, ``poll_interval_ms``, or stop. A failed pass (Redis away) is
logged and retried after a pause; the service keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.connection import check_server, create_client
from conveyor.keys import Keys
from conveyor.settings import RedisSettings, load_settings
from conveyor.telemetry.probes import ProbeServer
from conveyor_scheduler.clock import Clock, RedisClock
from conveyor_scheduler.metrics import SchedulerMetrics
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.schedules_file import load_schedules_file
from conveyor_scheduler.settings import SchedulerSettings

log = structlog.get_logger(__name__)

ERROR_PAUSE_S = 1.0


async def serve(stop: asyncio.Event) -> None:
    """Start the scheduler service and run until ``stop`` is set."""
    redis_settings = load_settings(RedisSettings)
    settings = load_settings(SchedulerSettings)
    # Read the file before connecting: a bad file is a configuration error (exit code 2).
    definitions = load_schedules_file(settings.schedules_file) if settings.schedules_file else []
    client = create_client(redis_settings)
    metrics = SchedulerMetrics()
    probes = ProbeServer(metrics.registry, lambda: _redis_answers(client))
    try:
        info = await check_server(client)
        log.info(
            "settings_loaded",
            queues=list(redis_settings.queues),
            server=info.server,
            server_version=info.version_text,
            **settings.model_dump(mode="json"),
        )
        await probes.start(settings.metrics_port)
        keys = Keys(prefix=redis_settings.key_prefix, queues=redis_settings.queues)
        scheduler = Scheduler(client, keys, settings)
        clock = RedisClock(client)
        if definitions:
            await scheduler.apply_file(definitions, await clock.now_ms())
        await run_loop(scheduler, clock, settings, stop, metrics)
    finally:
        await probes.stop()
        await client.aclose()


async def run_loop(
    scheduler: Scheduler,
    clock: Clock,
    settings: SchedulerSettings,
    stop: asyncio.Event,
    metrics: SchedulerMetrics | None = None,
) -> None:
    """Run passes until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            now = await clock.now_ms()
            read_at = loop.time()
            result = await scheduler.tick(now)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            log.warning("pass_failed", error=str(exc))
            if metrics is not None:
                metrics.errors.inc()
            await _wait(stop, ERROR_PAUSE_S)
            continue
        if metrics is not None:
            metrics.observe(result, now)
        wake = now + settings.poll_interval_ms
        if result.next_wake_ms is not None:
            wake = min(wake, result.next_wake_ms)
        # The pass itself took time: wait only what is left until the wake-up instant.
        await _wait(stop, (wake - now) / 1000 - (loop.time() - read_at))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _redis_answers(client: Redis) -> bool:
    return bool(await client.ping())
