"""Fixtures of the client tests: settings on the test's keys, a running ingest, a worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from conveyor import AsyncClient, Client
from conveyor.handlers import Registry
from conveyor.keys import Keys
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker
from integration.ingest.ingest_support import ingest_settings, make_token

QUEUES = ("default", "other")
PARTITIONS = (("other", 4),)


@pytest.fixture
def redis_settings(redis_url: str, keys: Keys) -> RedisSettings:
    """The services' settings on the test's keys: two queues, ``other`` in 4 partitions."""
    return RedisSettings(
        redis_url=redis_url, key_prefix=keys.prefix, queues=QUEUES, queue_partitions=PARTITIONS
    )


@pytest.fixture
def all_keys(keys: Keys) -> Keys:
    """The test's keys with both queues and their partitions."""
    return Keys(prefix=keys.prefix, queues=QUEUES, partitions=PARTITIONS)


@pytest.fixture
def client(redis: Redis, redis_settings: RedisSettings) -> Iterator[Client]:
    """A blocking client talking to Redis directly (``redis`` deletes the keys after)."""
    with Client(redis_settings.redis_url, settings=redis_settings) as direct:
        yield direct


@pytest.fixture
async def aclient(redis: Redis, redis_settings: RedisSettings) -> AsyncIterator[AsyncClient]:
    """An asyncio client talking to Redis directly (``redis`` deletes the keys after)."""
    async with AsyncClient(redis_settings.redis_url, settings=redis_settings) as direct:
        yield direct


@pytest.fixture
def ingest_overrides() -> dict[str, Any]:
    """Override in a test module to change ingest's settings."""
    return {}


@pytest.fixture
async def ingest_url(
    redis: Redis, redis_settings: RedisSettings, ingest_overrides: dict[str, Any]
) -> AsyncIterator[str]:
    """A running ingest API (and its read-model consumer) on the test's keys."""
    server = TestServer(create_app(ingest_settings(**ingest_overrides), redis_settings))
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[SyncRedis]:
    """A plain blocking redis-py client, to look at what the client wrote."""
    plain = SyncRedis.from_url(redis_url)
    yield plain
    plain.close()


@pytest.fixture
def token() -> str:
    """A token with every scope."""
    return make_token(scope="tasks:write tasks:read schedules:write admin")


@pytest.fixture
async def hclient(ingest_url: str, token: str) -> AsyncIterator[AsyncClient]:
    """An asyncio client of the ingest API, with every scope."""
    async with AsyncClient(ingest_url, token=token) as http:
        yield http


@pytest.fixture
def run_worker(redis: Redis, all_keys: Keys) -> Callable[[Registry], Awaitable[None]]:
    """Run a worker with ``registry`` until every queue is drained."""

    async def run(registry: Registry) -> None:
        settings = WorkerSettings(block_ms=50, breaker_enabled=False)
        await Worker(redis, settings, registry, all_keys).run(burst=True)

    return run
