"""The worker service's lifecycle: connect, check the server, serve until stopped."""

from __future__ import annotations

import asyncio

import structlog
from prometheus_client import CollectorRegistry

from conveyor.connection import check_server, create_client
from conveyor.dataset import DatasetGuard
from conveyor.keys import Keys
from conveyor.service import tune_gc
from conveyor.settings import RedisSettings, load_settings
from conveyor.telemetry.probes import ProbeServer, redis_readiness
from conveyor.telemetry.tracing import TracingSettings, configure_tracing
from conveyor_worker.loading import load_registry
from conveyor_worker.metrics import WorkerMetrics
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker

log = structlog.get_logger(__name__)


async def serve(stop: asyncio.Event) -> None:
    """Start the worker service and run until ``stop`` is set."""
    redis_settings = load_settings(RedisSettings)
    settings = load_settings(WorkerSettings)
    registry = load_registry(settings.handler_modules)
    tracing = load_settings(TracingSettings)
    provider = configure_tracing("worker", tracing)
    metrics_registry = CollectorRegistry()
    keys = Keys(redis_settings.key_prefix, redis_settings.queues, redis_settings.queue_partitions)
    dataset = DatasetGuard(
        keys.dataset_identity("worker"), redis_settings.redis_dataset_reset, metrics_registry
    )
    client = create_client(redis_settings, dataset)
    probes = ProbeServer(metrics_registry, ready=redis_readiness(client, dataset.problems))
    try:
        info = await check_server(client)
        log.info(
            "settings_loaded",
            queues=list(redis_settings.queues),
            server=info.server,
            server_version=info.version_text,
            handler_types=sorted(handler.name for handler in registry),
            **settings.model_dump(),
        )
        await probes.start(settings.metrics_port)
        tune_gc()
        worker = Worker(
            client,
            settings,
            registry,
            keys,
            metrics=WorkerMetrics.create(metrics_registry),
            consumer_context=tracing.consumer_context,
        )
        await worker.run(stop)
    finally:
        await probes.stop()
        await client.aclose()
        if provider is not None:
            provider.shutdown()  # flushes spans still batched
