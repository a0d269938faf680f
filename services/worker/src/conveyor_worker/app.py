"""The worker service's lifecycle: connect, check the server, run until stopped."""

from __future__ import annotations

import asyncio

import structlog

from conveyor.connection import check_server, create_client
from conveyor.settings import RedisSettings, load_settings
from conveyor_worker.settings import WorkerSettings

log = structlog.get_logger(__name__)


async def serve(stop: asyncio.Event) -> None:
    """Start the worker service and run until ``stop`` is set."""
    redis_settings = load_settings(RedisSettings)
    settings = load_settings(WorkerSettings)
    client = create_client(redis_settings)
    try:
        info = await check_server(client)
        log.info(
            "settings_loaded",
            queues=list(redis_settings.queues),
            server=info.server,
            server_version=info.version_text,
            **settings.model_dump(),
        )
        await stop.wait()
    finally:
        await client.aclose()
