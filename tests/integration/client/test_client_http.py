"""The client over the ingest API: same methods, the API's answers as typed values/errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from conveyor import AsyncClient, Client, TaskStatus
from conveyor.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InvalidTaskError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    TaskDeadError,
)
from conveyor.handlers import PermanentError, Registry, TaskContext
from integration.client.shared_tasks import Greeted, Greeting, greet
from integration.ingest.ingest_support import make_token


async def test_enqueue_get_and_typed_result_over_http(
    hclient: AsyncClient, run_worker: Callable[[Registry], Awaitable[None]]
) -> None:
    registry = Registry()

    @registry.implement(greet)
    async def greet_impl(ctx: TaskContext, payload: Greeting) -> Greeted:
        return Greeted(text=payload.name, length=len(payload.name))

    ref = await hclient.enqueue(greet, Greeting(name="bob"))
    assert (await hclient.get(ref.id)).status is TaskStatus.PENDING
    await run_worker(registry)
    assert await ref.result(timeout=30) == Greeted(text="bob", length=3)
    done = await hclient.wait(ref.id, timeout=5)
    assert done.done
    assert done.attempts == 1


async def test_idempotent_batches_and_changes_over_http(hclient: AsyncClient) -> None:
    first = await hclient.enqueue_many("demo.echo", [1, 2], queue="other", idempotency_key="b1")
    again = await hclient.enqueue_many("demo.echo", [1, 2], queue="other", idempotency_key="b1")
    assert [r.id for r in first] == [r.id for r in again]
    later = await hclient.enqueue("demo.echo", 1, delay=60)
    assert await hclient.change(later.id, payload=2, max_attempts=None) == 1
    await later.cancel()
    assert (await later.get()).status is TaskStatus.CANCELLED
    with pytest.raises(ConflictError, match="cancelled") as caught:
        await hclient.change(later.id, payload=3)
    assert caught.value.status == 409


async def test_every_4xx_is_a_typed_error_with_the_api_message(
    hclient: AsyncClient, ingest_url: str
) -> None:
    with pytest.raises(InvalidTaskError) as invalid:
        await hclient.enqueue("bad type!", 1)
    assert invalid.value.errors[0]["loc"] == "type"
    with pytest.raises(NotFoundError, match="not found"):
        await hclient.get("0190c8a4-0000-7000-8000-000000000000")
    with pytest.raises(PayloadTooLargeError):
        await hclient.enqueue("demo.echo", "x" * 2_000_000)
    async with AsyncClient(ingest_url) as anonymous:
        with pytest.raises(AuthenticationError):
            await anonymous.enqueue("demo.echo", 1)
    async with AsyncClient(ingest_url, token=make_token(scope="tasks:read")) as reader:
        with pytest.raises(PermissionDeniedError):
            await reader.enqueue("demo.echo", 1)
        with pytest.raises(PermissionDeniedError):
            await reader.dead_letters.list()


async def test_the_blocking_client_over_http(ingest_url: str, token: str) -> None:
    def use() -> list[TaskStatus]:
        with Client(ingest_url, token=token) as client:
            refs = [client.enqueue("demo.echo", i) for i in range(5)]
            return [client.get(ref.id).status for ref in refs]

    assert await asyncio.to_thread(use) == [TaskStatus.PENDING] * 5


async def test_dead_letters_list_replay_and_purge(
    hclient: AsyncClient, run_worker: Callable[[Registry], Awaitable[None]]
) -> None:
    registry = Registry()

    @registry.handler("test.fail")
    async def fail(ctx: TaskContext, payload: Any) -> None:
        raise PermanentError("broken")

    ref = await hclient.enqueue("test.fail", {"n": 1})
    await run_worker(registry)
    with pytest.raises(TaskDeadError, match="broken"):
        await ref.result(timeout=30)
    (letter,) = await hclient.dead_letters.list()
    assert letter["task_id"] == ref.id
    replayed = await hclient.dead_letters.replay("default", letter["entry_id"])
    assert replayed == await hclient.dead_letters.replay("default", letter["entry_id"])
    assert replayed["replay_of"] == ref.id
    assert await hclient.dead_letters.purge() == 1


async def test_schedules_over_http_and_not_over_redis(
    hclient: AsyncClient, aclient: AsyncClient
) -> None:
    definition = {"id": "nightly", "cron": "0 3 * * *", "task": {"type": "demo.echo"}}
    described = await hclient.schedules.put(definition)
    assert described["schedule"]["id"] == "nightly"
    assert described["next_fires"]
    await hclient.schedules.delete("nightly")
    with pytest.raises(ConfigurationError, match="http"):
        await aclient.schedules.list()


async def test_a_cloudevent_task_shows_its_attributes_over_both_transports(
    hclient: AsyncClient, aclient: AsyncClient, ingest_url: str, token: str
) -> None:
    event = {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "shop.sold",
             "myext": "blue", "data": {"n": 1}}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents+json"}
    url = f"{ingest_url}/api/v1/events"
    async with aiohttp.ClientSession() as http, http.post(url, json=event, headers=headers) as r:
        assert r.status == 202
        task_id = (await r.json())["data"]["id"]
    over_http = await hclient.get(task_id)
    direct = await aclient.get(task_id)
    assert over_http.event_attributes == direct.event_attributes == {"id": "e-1", "myext": "blue"}
    assert (await aclient.get((await aclient.enqueue("demo.echo", 1)).id)).event_attributes is None
