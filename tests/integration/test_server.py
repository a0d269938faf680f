"""The local launcher and the checks made at connect."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from conveyor.connection import MIN_VERSION, check_server
from conveyor.localserver import LocalServer, find_server_binary


async def test_check_server_accepts_the_test_server(redis: Redis) -> None:
    info = await check_server(redis)
    assert info.server in ("redis", "valkey")
    assert info.version >= MIN_VERSION


@pytest.mark.parametrize("kind", ["redis", "valkey"])
async def test_launcher_keeps_data_across_restarts_with_aof(tmp_path: Path, kind: str) -> None:
    try:
        find_server_binary(kind)  # type: ignore[arg-type]
    except Exception as exc:
        pytest.skip(f"{kind} server not available: {exc}")
    with LocalServer(tmp_path, kind=kind) as server:  # type: ignore[arg-type]
        client = Redis.from_url(server.url)
        assert (await client.config_get("appendonly"))["appendonly"] == "yes"
        assert (await client.config_get("appendfsync"))["appendfsync"] == "everysec"
        await client.xadd("s", {"k": "v"})
        await client.aclose()
    with LocalServer(tmp_path, kind=kind) as server:  # type: ignore[arg-type]
        client = Redis.from_url(server.url)
        assert await client.xlen("s") == 1
        await client.aclose()


async def test_eviction_policy_is_warned_about_loudly(tmp_path: Path) -> None:
    extra = ["--maxmemory-policy", "allkeys-lru"]
    with LocalServer(tmp_path, extra_args=extra) as server:
        client = Redis.from_url(server.url)
        with capture_logs() as logs:
            info = await check_server(client)
        await client.aclose()
    assert info.maxmemory_policy == "allkeys-lru"
    assert [e["event"] for e in logs] == ["maxmemory_policy_evicts"]
    assert "noeviction" in logs[0]["fix"]
