"""Rate limit (429), load shedding (503) and Redis unreachable (503), all with Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from conveyor.localserver import LocalServer, free_port
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from integration.ingest.ingest_support import Api, auth, ingest_settings, post_task, until


class TestRateLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"rate_limit": 1.0, "rate_burst": 3}

    async def test_requests_over_the_burst_get_429_with_retry_after(self, api: Api) -> None:
        statuses = []
        for _ in range(6):
            response = await api.client.post(
                "/api/v1/tasks", json={"type": "demo.echo"}, headers=auth()
            )
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert (await response.json())["code"] == 429
        assert statuses.count(202) >= 3
        assert 429 in statuses
        # Another client has its own bucket.
        other = await api.client.post(
            "/api/v1/tasks", json={"type": "demo.echo"}, headers=auth(sub="bob")
        )
        assert other.status == 202


class TestRateLimitLeases:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"rate_limit": 200.0, "rate_burst": 10}

    async def test_local_leases_never_let_a_client_exceed_its_rate(self, api: Api) -> None:
        token = auth()
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                api.client.post("/api/v1/tasks", json={"type": "demo.echo"}, headers=token)
                for _ in range(60)
            )
        )
        elapsed = time.monotonic() - started
        accepted = sum(1 for response in responses if response.status == 202)
        assert {response.status for response in responses} <= {202, 429}
        assert accepted <= 10 + 200 * elapsed + 1
        assert await api.redis.xlen(api.keys.queue("default").tasks) == accepted


class TestShedding:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_backlog": 3}

    async def test_backlog_over_the_limit_gets_503_with_retry_after(self, api: Api) -> None:
        for n in range(3):
            await api.redis.xadd(api.keys.queue("default").tasks, {"n": n})
        response = await api.client.post(
            "/api/v1/tasks", json={"type": "demo.echo"}, headers=auth()
        )
        assert response.status == 503
        assert response.headers["Retry-After"]
        status, _ = await post_task(api, {"type": "demo.echo", "queue": "other"})
        assert status == 202


async def test_redis_unreachable_gets_503_quickly_never_500() -> None:
    dead = RedisSettings(redis_url=f"redis://127.0.0.1:{free_port()}/0", key_prefix="none")
    app = create_app(ingest_settings(), dead, consume=False)
    async with TestClient(TestServer(app)) as client:
        started = time.monotonic()
        response = await client.post("/api/v1/tasks", json={"type": "demo.echo"}, headers=auth())
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert (await response.json())["code"] == 503
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert time.monotonic() - started < 20


async def test_recovers_by_itself_when_redis_comes_back(tmp_path: Path) -> None:
    server = LocalServer(tmp_path / "redis", kind="redis")
    server.start()
    settings = RedisSettings(redis_url=server.url, key_prefix="recover")
    app = create_app(ingest_settings(), settings, consume=False)
    try:
        async with TestClient(TestServer(app)) as client:

            async def post() -> int:
                response = await client.post(
                    "/api/v1/tasks", json={"type": "demo.echo"}, headers=auth()
                )
                return response.status

            assert await post() == 202
            server.stop()
            assert await post() == 503
            server.start()  # same port, same data directory
            assert await until(lambda: _is_accepted(post), "accepted again") is True
    finally:
        server.stop()


async def _is_accepted(post: Callable[[], Awaitable[int]]) -> bool:
    return await post() == 202
