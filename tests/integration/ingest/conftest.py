"""Fixtures of the ingest API tests: the app on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from integration.ingest.ingest_support import QUEUES, Api, StrictJsonResponse, ingest_settings


@pytest.fixture
def redis_settings(redis_url: str, keys: Keys) -> RedisSettings:
    """Settings pointing at the test server, under the test's key prefix."""
    return RedisSettings(redis_url=redis_url, key_prefix=keys.prefix, queues=QUEUES)


@pytest.fixture
def api_keys(keys: Keys) -> Keys:
    """The test's keys with both queues."""
    return Keys(prefix=keys.prefix, queues=QUEUES)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
async def api(
    redis: Redis,
    redis_settings: RedisSettings,
    api_keys: Keys,
    settings_overrides: dict[str, Any],
) -> AsyncIterator[Api]:
    """The ingest app with its read-model consumer, served on a free port."""
    settings = ingest_settings(**settings_overrides)
    app = create_app(settings, redis_settings)
    async with TestClient(TestServer(app), response_class=StrictJsonResponse) as client:
        yield Api(client=client, redis=redis, keys=api_keys, settings=settings)
