"""The probes server answers /metrics, /livez and /readyz over real HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from conveyor.connection import create_client
from conveyor.localserver import LocalServer
from conveyor.settings import RedisSettings
from conveyor.telemetry.probes import READY_TIMEOUT_S, ProbeServer, redis_readiness
from waiting import wait_for


async def _request(port: int, line: str) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{line}\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    head, _, body = response.partition("\r\n\r\n")
    return head.splitlines()[0], body


async def test_probe_paths_answer_with_the_right_status() -> None:
    registry = CollectorRegistry()
    Counter("conveyor_test_things", "Things.", registry=registry).inc(3)
    ready: dict[str, bool | None] = {"value": True}

    async def check() -> list[str]:
        if ready["value"] is None:
            raise ConnectionError
        return [] if ready["value"] else ["a problem"]

    server = ProbeServer(registry, check, host="127.0.0.1")
    port = await server.start(0)
    try:
        assert port > 0
        status, body = await _request(port, "GET /metrics HTTP/1.1")
        assert status == "HTTP/1.1 200 OK"
        assert "conveyor_test_things_total 3.0" in body
        assert (await _request(port, "GET /livez HTTP/1.1"))[0] == "HTTP/1.1 200 OK"
        assert (await _request(port, "GET /readyz HTTP/1.1"))[0] == "HTTP/1.1 200 OK"
        ready["value"] = False
        assert (await _request(port, "GET /readyz HTTP/1.1"))[0].startswith("HTTP/1.1 503")
        ready["value"] = None
        assert (await _request(port, "GET /readyz HTTP/1.1"))[0].startswith("HTTP/1.1 503")
        assert (await _request(port, "GET /nope HTTP/1.1"))[0].startswith("HTTP/1.1 404")
        assert (await _request(port, "POST /metrics HTTP/1.1"))[0].startswith("HTTP/1.1 405")
    finally:
        await server.stop()


async def test_readyz_answers_503_within_its_bound_and_livez_200_while_redis_is_paused(
    tmp_path: Path,
) -> None:
    """A paused Redis: /readyz says why within READY_TIMEOUT_S; /livez never asks Redis."""
    redis = LocalServer(tmp_path / "redis", kind="redis").start()
    client = create_client(RedisSettings(redis_url=redis.url))
    server = ProbeServer(CollectorRegistry(), redis_readiness(client), host="127.0.0.1")
    port = await server.start(0)
    try:
        assert (await _request(port, "GET /readyz HTTP/1.1"))[0] == "HTTP/1.1 200 OK"
        with redis.paused():
            for _ in range(3):  # again and again: no probe waits behind an earlier one
                started = time.monotonic()
                status, body = await _request(port, "GET /readyz HTTP/1.1")
                assert status.startswith("HTTP/1.1 503"), status
                assert "did not answer" in body
                assert time.monotonic() - started < READY_TIMEOUT_S + 1.0
                assert (await _request(port, "GET /livez HTTP/1.1"))[0] == "HTTP/1.1 200 OK"

        async def ready_again() -> bool:
            return (await _request(port, "GET /readyz HTTP/1.1"))[0] == "HTTP/1.1 200 OK"

        await wait_for(ready_again, what="ready once Redis is resumed")
    finally:
        await server.stop()
        await client.aclose()
        redis.stop()
