"""The scheduler service's lifecycle: connect, apply the schedules file, run until stopped."""

from __future__ import annotations

import asyncio

import structlog

from conveyor.connection import check_server, create_client
from conveyor.dataset import DatasetGuard
from conveyor.keys import Keys
from conveyor.settings import RedisSettings, load_settings
from conveyor.telemetry.probes import ProbeServer, redis_readiness
from conveyor.telemetry.tracing import TracingSettings, configure_tracing
from conveyor_scheduler.clock import RedisClock
from conveyor_scheduler.metrics import SchedulerMetrics
from conveyor_scheduler.runner import run_loop
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.schedules_file import load_schedules_file
from conveyor_scheduler.settings import SchedulerSettings

log = structlog.get_logger(__name__)


async def serve(stop: asyncio.Event) -> None:
    """Start the scheduler service and run until ``stop`` is set."""
    redis_settings = load_settings(RedisSettings)
    settings = load_settings(SchedulerSettings)
    # Read the file before connecting: a bad file is a configuration error (exit code 2).
    definitions = load_schedules_file(settings.schedules_file) if settings.schedules_file else []
    provider = configure_tracing("scheduler", load_settings(TracingSettings))
    metrics = SchedulerMetrics()
    keys = Keys(redis_settings.key_prefix, redis_settings.queues, redis_settings.queue_partitions)
    dataset = DatasetGuard(
        keys.dataset_identity("scheduler"), redis_settings.redis_dataset_reset, metrics.registry
    )
    client = create_client(redis_settings, dataset)
    probes = ProbeServer(metrics.registry, redis_readiness(client, dataset.problems))
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
        scheduler = Scheduler(client, keys, settings)
        clock = RedisClock(client)
        if definitions:
            await scheduler.apply_file(definitions, await clock.now_ms())
        await run_loop(scheduler, clock, settings, stop, metrics)
    finally:
        await probes.stop()
        await client.aclose()
        if provider is not None:
            provider.shutdown()  # flushes spans still batched
