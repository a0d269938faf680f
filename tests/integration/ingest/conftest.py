"""Fixtures of the ingest API tests: the app on a real server, and tokens."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from conveyor_ingest.settings import IngestSettings

SECRET = "test-secret-of-sufficient-length-for-hs256"
QUEUES = ("default", "other")


def make_token(sub: str = "alice", scope: str = "tasks:write tasks:read", **claims: Any) -> str:
    """An HS256 token signed with the test secret."""
    now = int(time.time())
    body = {"sub": sub, "scope": scope, "iss": "conveyor", "aud": "conveyor", "exp": now + 600}
    body.update(claims)
    return jwt.encode(body, SECRET, algorithm="HS256")


def auth(token: str | None = None, **claims: Any) -> dict[str, str]:
    """Authorization header for ``token`` (default: a fresh alice token)."""
    return {"Authorization": f"Bearer {token or make_token(**claims)}"}


@dataclass
class Api:
    """A running ingest app and what the tests need around it."""

    client: TestClient[Any, Any]
    redis: Redis
    keys: Keys
    settings: IngestSettings


ApiFactory = Callable[..., "AsyncIterator[Api]"]


def ingest_settings(**overrides: Any) -> IngestSettings:
    """Test settings: known secret, everything else default unless overridden."""
    values: dict[str, Any] = {"jwt_secret": SECRET}
    values.update(overrides)
    return IngestSettings(**values)


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
    async with TestClient(TestServer(app)) as client:
        yield Api(client=client, redis=redis, keys=api_keys, settings=settings)
