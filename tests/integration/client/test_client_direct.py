"""The client over Redis directly: the write path ingest uses, with its guarantees."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import trace
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from conveyor import AsyncClient, Client, TaskStatus
from conveyor.errors import (
    ConflictError,
    InvalidTaskError,
    NotFoundError,
    TaskCancelledError,
    TaskDeadError,
    WaitTimeoutError,
)
from conveyor.handlers import PermanentError, Registry, TaskContext
from conveyor.keys import Keys
from integration.client.shared_tasks import Greeted, Greeting, greet
from tracing_globals import recorded_spans


def test_get_right_after_enqueue_finds_the_task(client: Client) -> None:
    ref = client.enqueue("demo.echo", {"a": 1})
    task = client.get(ref.id)
    assert (task.id, task.type, task.queue, task.status) == (
        ref.id,
        "demo.echo",
        "default",
        TaskStatus.PENDING,
    )
    assert task.origin == "client"


def test_fifty_threads_with_one_key_make_one_task(
    client: Client, all_keys: Keys, raw: SyncRedis
) -> None:
    def attempt(_: int) -> str:
        return client.enqueue("demo.echo", {"n": 1}, idempotency_key="order-7").id

    with ThreadPoolExecutor(max_workers=50) as pool:
        ids = set(pool.map(attempt, range(50)))
    assert len(ids) == 1
    assert raw.xlen(all_keys.queue("default").tasks) == 1


def test_one_key_with_other_tasks_is_refused(client: Client) -> None:
    client.enqueue("demo.echo", {"n": 1}, idempotency_key="k")
    with pytest.raises(InvalidTaskError) as caught:
        client.enqueue("demo.echo", {"n": 2}, idempotency_key="k")
    assert caught.value.errors[0]["loc"] == "idempotency_key"


def test_bad_input_names_the_field(client: Client) -> None:
    with pytest.raises(InvalidTaskError) as caught:
        client.enqueue("demo.echo", {"x": float("nan")})
    assert caught.value.errors[0]["loc"] == "body"
    with pytest.raises(InvalidTaskError, match="printable"):
        client.enqueue("demo.echo", 1, idempotency_key="a{b}")
    with pytest.raises(NotFoundError):
        client.get("0190c8a4-0000-7000-8000-000000000000")


def test_partitions_route_as_ingest_does(client: Client, all_keys: Keys, raw: SyncRedis) -> None:
    for key in ("alpha", "beta", "gamma", "delta"):
        ref = client.enqueue("demo.echo", key, queue="other", partition_key=key)
        shard = all_keys.route("other", key)
        entries: Any = raw.xrange(shard.tasks)
        assert ref.id in {fields[b"id"].decode() for _, fields in entries}


def test_enqueue_many_is_one_write_per_partition(client: Client) -> None:
    refs = client.enqueue_many("demo.echo", [{"i": i} for i in range(20)], queue="other")
    assert len({ref.id for ref in refs}) == 20
    first = client.enqueue_many("demo.echo", [1, 2, 3], queue="other", idempotency_key="b")
    again = client.enqueue_many("demo.echo", [1, 2, 3], queue="other", idempotency_key="b")
    assert [r.id for r in again] == [r.id for r in first]


def test_cancel_and_change_an_unstarted_task(client: Client) -> None:
    ref = client.enqueue("demo.echo", 1, delay=60)
    assert client.get(ref.id).status is TaskStatus.SCHEDULED
    assert client.change(ref.id, payload=2, delay=120) == 1
    ref.cancel()
    assert client.get(ref.id).status is TaskStatus.CANCELLED
    with pytest.raises(TaskCancelledError):
        ref.result(timeout=1)
    with pytest.raises(ConflictError, match="cancelled"):
        client.change(ref.id, payload=3)


def test_result_times_out_with_a_typed_error(client: Client) -> None:
    ref = client.enqueue("demo.echo", 1)
    with pytest.raises(WaitTimeoutError):
        ref.result(timeout=0.1)


async def test_typed_result_through_a_real_worker(
    aclient: AsyncClient,
    ingest_url: str,
    run_worker: Callable[[Registry], Awaitable[None]],
) -> None:
    registry = Registry()

    @registry.implement(greet)
    async def greet_impl(ctx: TaskContext, payload: Greeting) -> Greeted:
        text = f"hello {payload.name}"
        return Greeted(text=text, length=len(text))

    @registry.handler("test.fail")
    async def fail(ctx: TaskContext, payload: Any) -> None:
        raise PermanentError("no")

    ref = await aclient.enqueue(greet, Greeting(name="ada"))
    failing = await aclient.enqueue("test.fail", None)
    await run_worker(registry)
    result = await ref.result(timeout=30)
    assert result == Greeted(text="hello ada", length=9)
    with pytest.raises(TaskDeadError, match="no"):
        await failing.result(timeout=30)


def test_the_blocking_client_serves_many_threads(client: Client) -> None:
    def work(i: int) -> TaskStatus:
        ref = client.enqueue("demo.echo", i)
        return client.get(ref.id).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(work, range(64)))
    assert statuses == [TaskStatus.PENDING] * 64


async def test_async_and_blocking_clients_share_one_idempotency_record(
    aclient: AsyncClient, client: Client, redis: Redis
) -> None:
    first = await aclient.enqueue("demo.echo", 5, idempotency_key="same")
    second = await asyncio.to_thread(client.enqueue, "demo.echo", 5, idempotency_key="same")
    assert first.id == second.id


def test_the_trace_context_is_injected(client: Client, all_keys: Keys, raw: SyncRedis) -> None:
    with recorded_spans() as exporter:
        tracer = trace.get_tracer("app")
        with tracer.start_as_current_span("request") as span:
            ref = client.enqueue("demo.echo", 1)
        trace_id = f"{span.get_span_context().trace_id:032x}"
    entries: Any = raw.xrange(all_keys.queue("default").tasks)
    (fields,) = [f for _, f in entries if f[b"id"].decode() == ref.id]
    assert fields[b"traceparent"].decode().split("-")[1] == trace_id
    sends = [s for s in exporter.get_finished_spans() if s.name.startswith("send ")]
    assert [s.attributes["messaging.message.id"] for s in sends if s.attributes] == [ref.id]
