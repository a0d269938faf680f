"""The ingest service: aiohttp app factory, its lifecycle, and ``serve`` for ``__main__``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from redis.asyncio import Redis

from conveyor.connection import ReplicaWait, check_server, create_client
from conveyor.dataset import DatasetGuard, guard_of
from conveyor.keys import Keys
from conveyor.limits import LimitsWatcher
from conveyor.service import tune_gc
from conveyor.settings import RedisSettings, load_settings
from conveyor.telemetry.queues import QueueStats, QueueStatsSettings
from conveyor.telemetry.spans import tracing_installed
from conveyor.telemetry.tracing import TracingSettings, configure_tracing
from conveyor_ingest.auth import TokenVerifier
from conveyor_ingest.consumer import ReadModelConsumer
from conveyor_ingest.context import SERVICES, Metrics, Services
from conveyor_ingest.history import HistorySampler
from conveyor_ingest.limits import BacklogGuard, RateLimiter
from conveyor_ingest.middlewares import request_middleware, set_body_limit
from conveyor_ingest.openapi import install as install_openapi
from conveyor_ingest.overview import OVERVIEW, OverviewHub, compute_overview
from conveyor_ingest.routes import (
    batch,
    deadletters,
    events,
    health,
    limits,
    queues,
    schedules,
    tasks,
)
from conveyor_ingest.routes import dashboard as dashboard_routes
from conveyor_ingest.routes import history as history_routes
from conveyor_ingest.routes import pause as pause_routes
from conveyor_ingest.routes import workers as worker_routes
from conveyor_ingest.routes import workflows as workflow_routes
from conveyor_ingest.server import ApiRunner
from conveyor_ingest.settings import IngestSettings
from conveyor_ingest.store import TaskStore
from conveyor_ingest.tokens import signing_secret
from conveyor_ingest.writer import ScriptWriter

log = structlog.get_logger(__name__)

SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0


def build_services(
    settings: IngestSettings,
    redis_settings: RedisSettings,
    client: Redis,
    metrics: Metrics | None = None,
) -> Services:
    """Wire the service objects around one client."""
    keys = Keys(redis_settings.key_prefix, redis_settings.queues, redis_settings.queue_partitions)
    writer = ScriptWriter(client, ReplicaWait.from_settings(redis_settings))
    verifier = TokenVerifier(settings, signing_secret(settings)) if settings.auth_enabled else None
    return Services(
        settings=settings,
        redis_settings=redis_settings,
        keys=keys,
        client=client,
        writer=writer,
        store=TaskStore(client, writer, keys, settings.status_retention, settings.idempotency_ttl),
        verifier=verifier,
        limiter=RateLimiter(client, writer, keys, settings.rate_limit, settings.rate_burst),
        backlog=BacklogGuard(client, keys, settings.max_backlog),
        metrics=metrics or Metrics.create(),
        dataset=guard_of(client),
        tracing=tracing_installed(),
    )


def create_app(
    settings: IngestSettings,
    redis_settings: RedisSettings,
    *,
    consume: bool = True,
    queue_stats: QueueStatsSettings | None = None,
) -> web.Application:
    """The aiohttp application; Redis clients and the read-model consumer live in its lifecycle.

    With ``queue_stats``, the queue gauges (conveyor.telemetry.queues) are sampled
    in the background and served on /metrics: ingest is their one exporter.
    """
    app = web.Application(middlewares=[request_middleware], client_max_size=settings.max_body_bytes)
    set_body_limit(app, settings.max_body_bytes)
    for module_routes in (
        batch.routes, tasks.routes, events.routes, deadletters.routes,
        schedules.routes, queues.routes, health.routes, pause_routes.routes,
        worker_routes.routes, history_routes.routes, dashboard_routes.routes,
        workflow_routes.routes, limits.routes,
    ):  # fmt: skip
        app.router.add_routes(module_routes)
    install_openapi(app)  # last: documents every route added above

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        metrics = Metrics.create()
        dataset = DatasetGuard(
            Keys(redis_settings.key_prefix).dataset_identity("ingest"),
            redis_settings.redis_dataset_reset,
            metrics.registry,
        )
        client = create_client(
            redis_settings,
            dataset,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            retry_on_timeout=False,
        )
        app[SERVICES] = build_services(settings, redis_settings, client, metrics)
        consumer = ReadModelConsumer(client, app[SERVICES].keys, settings.status_retention)
        stop = asyncio.Event()
        runner: asyncio.Task[None] | None = None
        with contextlib.suppress(Exception):
            await consumer.ensure_groups()  # retried by the consumer loop when Redis is down
        background: list[asyncio.Task[None]] = []
        if consume:
            runner = asyncio.create_task(consumer.run(stop))
            history = HistorySampler(client, app[SERVICES].keys, settings.history_interval)
            background.append(asyncio.create_task(history.run(stop)))
        app[OVERVIEW] = OverviewHub(
            lambda: compute_overview(app[SERVICES]), settings.overview_interval
        )
        watcher = LimitsWatcher(client, app[SERVICES].keys, app[SERVICES].limiter.apply)
        with contextlib.suppress(Exception):
            await watcher.poll()  # the limits in force before the first request
        watching = asyncio.create_task(watcher.run(stop))
        sampler: asyncio.Task[None] | None = None
        if queue_stats is not None:
            stats = QueueStats(client, app[SERVICES].keys, app[SERVICES].metrics.registry)
            sampler = asyncio.create_task(stats.run(stop, queue_stats.interval))
        try:
            yield
        finally:
            stop.set()
            await app[OVERVIEW].close()
            for task in background:
                task.cancel()  # a sample is one script: safe to cancel between calls
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if sampler is not None:
                sampler.cancel()  # read-only: safe to cancel mid-sample
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            # Not cancelled: a poll cut short before its command started leaves the
            # command's coroutine unawaited. stop ends it after the poll in progress.
            await asyncio.wait([watching], timeout=SOCKET_TIMEOUT_S + 1)
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            if runner is not None:
                # Cancelling is safe: the consumer only blocks in a read; its writes are scripts.
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
            await app[SERVICES].writer.aclose()
            await client.aclose()

    app.cleanup_ctx.append(lifecycle)

    async def end_streams(app: web.Application) -> None:
        # Before the server waits for open handlers: dashboards' streams end now.
        if OVERVIEW in app:
            await app[OVERVIEW].close()

    app.on_shutdown.append(end_streams)
    return app


async def serve(stop: asyncio.Event) -> None:
    """Start the ingest service and run until ``stop`` is set."""
    redis_settings = load_settings(RedisSettings)
    settings = load_settings(IngestSettings)
    provider = configure_tracing("ingest", load_settings(TracingSettings))
    probe = create_client(redis_settings)
    try:
        info = await check_server(probe)
    finally:
        await probe.aclose()
    log.info(
        "settings_loaded",
        queues=list(redis_settings.queues),
        server=info.server,
        server_version=info.version_text,
        **settings.model_dump(exclude={"jwt_secret"}),
    )
    app = create_app(settings, redis_settings, queue_stats=load_settings(QueueStatsSettings))
    runner = ApiRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    tune_gc()
    log.info("http_listening", host=settings.host, port=settings.port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if provider is not None:
            provider.shutdown()  # flushes spans still batched
