"""Every write request is answered within the request deadline while Redis is paused, and
a request answered 503 is never written later without its Idempotency-Key finding it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from conveyor.connection import create_client
from conveyor.keys import Keys
from conveyor.localserver import LocalServer
from conveyor.settings import RedisSettings
from conveyor.telemetry.probes import READY_TIMEOUT_S
from conveyor_ingest import deadline as conveyor_deadline
from conveyor_ingest.app import create_app
from conveyor_ingest.writer import MAX_INFLIGHT, ScriptWriter
from integration.ingest.ingest_support import auth, ingest_settings, until
from waiting import wait_for

DEADLINE = 1.0
WAVES = 6
PER_WAVE = 20


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LocalServer]:
    """A Redis of this test's own, which it pauses with SIGSTOP."""
    redis = LocalServer(tmp_path / "redis", kind="redis").start()
    yield redis
    redis.stop()


async def _post(client: TestClient[Any, Any], key: str) -> tuple[int, str, float, bool]:
    """POST one task with Idempotency-Key ``key``: (status, message, seconds, replayed)."""
    headers = {**auth(), "Idempotency-Key": key}
    started = time.monotonic()
    response = await client.post("/api/v1/tasks", json={"type": "demo.echo"}, headers=headers)
    body = await response.json()
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    return response.status, str(body.get("message", "")), time.monotonic() - started, replayed


async def _waves(client: TestClient[Any, Any]) -> dict[str, tuple[int, str, float, bool]]:
    """Requests arriving in waves while the earlier ones are still stuck."""
    pending: dict[str, asyncio.Task[tuple[int, str, float, bool]]] = {}
    for wave in range(WAVES):
        for n in range(PER_WAVE):
            key = f"w{wave}-{n}"
            pending[key] = asyncio.create_task(_post(client, key))
        await asyncio.sleep(DEADLINE / 3)  # arrivals spread over time, not synchronisation
    return {key: await task for key, task in pending.items()}


async def test_requests_behind_a_stuck_connection_get_answers_within_the_deadline(
    server: LocalServer,
) -> None:
    settings = RedisSettings(redis_url=server.url, key_prefix="deadline")
    app = create_app(ingest_settings(request_timeout=DEADLINE), settings, consume=False)
    redis = Redis.from_url(server.url)
    tasks = Keys("deadline", ("default",)).queue("default").tasks
    async with TestClient(TestServer(app)) as client:
        assert (await _post(client, "warm-up"))[0] == 202  # scripts loaded, backlog sampled
        with server.paused():
            results = await _waves(client)

        slowest = max(seconds for _, _, seconds, _ in results.values())
        assert slowest < DEADLINE + 0.5, f"slowest answer {slowest:.2f} s"
        statuses = {status for status, _, _, _ in results.values()}
        assert statuses <= {202, 503}, statuses
        # Once Redis is back, each key is retried until it has its answer: a request that
        # got "nothing was written" is new now; every key ends with exactly one task.
        for key, (status, message, _, _) in results.items():
            replayed = await _retry(client, key)
            if status == 503 and "nothing was written" in message:
                assert not replayed, f"{key} was written after being answered 'not written'"
        assert await redis.xlen(tasks) == len(results) + 1
    await redis.aclose()


async def _retry(client: TestClient[Any, Any], key: str) -> bool:
    """Send ``key`` again until it is accepted; True when that answer was a replay."""
    replays: list[bool] = []

    async def accepted() -> bool:
        status, _, _, replayed = await _post(client, key)
        replays.append(replayed)
        return status == 202

    await until(accepted, f"{key} accepted after the pause")
    return replays[-1]


def _in_flight(writer: ScriptWriter, count: int) -> bool:
    return writer.in_flight == count


async def test_a_call_still_queued_at_its_deadline_is_never_sent(server: LocalServer) -> None:
    """The writer's slots are stuck: the queued call fails 'not written' and stays unwritten."""
    client = create_client(RedisSettings(redis_url=server.url))
    writer = ScriptWriter(client)
    incr = client.register_script("return redis.call('INCR', KEYS[1])")
    await client.script_load(incr.script)
    loop = asyncio.get_running_loop()
    try:
        with server.paused():
            stuck = []
            for slot in range(1, MAX_INFLIGHT + 1):  # one pipeline each: calls of their own ticks
                stuck.append(asyncio.create_task(writer.call(incr, ["stuck"], [])))
                await wait_for(partial(_in_flight, writer, slot), what="a slot in use")
            conveyor_deadline.use(loop.time() + 0.2)
            with pytest.raises(conveyor_deadline.NotWrittenError):
                await writer.call(incr, ["late"], [])
            conveyor_deadline.use(None)
        await asyncio.gather(*stuck, return_exceptions=True)
        await wait_for(lambda: writer.in_flight == 0, what="the stuck pipelines answered")
        assert await writer.call(incr, ["after"], []) == 1  # the writer works again
        assert await client.get("late") is None
    finally:
        await writer.aclose()
        await client.aclose()


async def test_readyz_answers_503_within_its_bound_while_redis_is_paused(
    server: LocalServer,
) -> None:
    settings = RedisSettings(redis_url=server.url, key_prefix="ready")
    app = create_app(ingest_settings(), settings, consume=True)
    async with TestClient(TestServer(app)) as client:
        await until(lambda: _ready(client), "ready before the pause")
        with server.paused():
            for _ in range(3):
                started = time.monotonic()
                response = await client.get("/readyz")
                assert response.status == 503
                assert "did not answer" in str((await response.json())["data"]["problems"])
                assert time.monotonic() - started < READY_TIMEOUT_S + 1.0
                assert (await client.get("/livez")).status == 200
        await until(lambda: _ready(client), "ready again after the pause")


async def _ready(client: TestClient[Any, Any]) -> bool:
    return (await client.get("/readyz")).status == 200
