"""One trace from an HTTP request to the handler: ingest -> scheduler (delay) -> worker.

Everything runs in-process on a real server and shares one SDK TracerProvider
with an in-memory exporter: the ingest app in aiohttp's TestServer, the
scheduler driven with ``tick`` and the worker in burst mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from conveyor.envelope import new_envelope
from conveyor.keys import Keys
from conveyor.schedules import ScheduleDefinition
from conveyor.settings import RedisSettings
from conveyor.telemetry.propagation import trace_fields
from conveyor_ingest.app import create_app
from conveyor_ingest.settings import IngestSettings
from conveyor_scheduler.firer import Firer, FirerConfig
from conveyor_scheduler.scheduler import Scheduler
from conveyor_scheduler.settings import SchedulerSettings
from conveyor_worker.examples import registry
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker
from tracing_globals import installed_provider, recorded_spans
from waiting import wait_for

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
CLIENT_PARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter on an SDK provider installed globally for this test only."""
    with recorded_spans() as exporter:
        yield exporter


def test_a_tests_provider_is_gone_after_it() -> None:
    before = trace.get_tracer_provider()
    with installed_provider(TracerProvider()) as provider:
        assert trace.get_tracer_provider() is provider
    assert trace.get_tracer_provider() is before


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def by_kind(spans: tuple[ReadableSpan, ...], kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in spans if span.kind is kind]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def attempt_of(span: ReadableSpan) -> int:
    value = span.attributes.get("conveyor.task.attempt") if span.attributes else None
    assert isinstance(value, int)
    return value


def worker_for(redis: Redis, keys: Keys, consumer_context: str = "parent") -> Worker:
    settings = WorkerSettings(block_ms=50, breaker_enabled=False)
    return Worker(
        redis,
        settings,
        registry,
        keys,
        consumer="w1",
        consumer_context=consumer_context,  # type: ignore[arg-type]
    )


async def test_one_trace_from_request_through_delay_and_retry_to_success(
    redis: Redis, redis_url: str, keys: Keys, exporter: InMemorySpanExporter
) -> None:
    keys = Keys(prefix=keys.prefix, queues=("default",))
    qk = keys.queue("default")
    redis_settings = RedisSettings(redis_url=redis_url, key_prefix=keys.prefix, queues=("default",))
    app = create_app(IngestSettings(auth_enabled=False), redis_settings, consume=False)
    scheduler = Scheduler(redis, keys, SchedulerSettings(consumer="s1"))
    worker = worker_for(redis, keys)
    async with TestClient(TestServer(app)) as client:
        body = {"type": "demo.fail", "payload": {"times": 1}, "delay": 0.2}
        response = await client.post(
            "/api/v1/tasks", json=body, headers={"traceparent": CLIENT_PARENT}
        )
        assert response.status == 202, await response.text()
        task_id = (await response.json())["data"]["id"]

    async def promoted() -> bool:
        return (await scheduler.tick(wall_ms())).promoted > 0

    await wait_for(promoted, within=20, what="the delayed task promoted")
    await worker.run(burst=True)  # attempt 1 fails: a retry timer
    await wait_for(promoted, within=20, what="the retry promoted")
    await worker.run(burst=True)  # attempt 2 succeeds

    everything = exporter.get_finished_spans()
    promotions = by_kind(everything, SpanKind.INTERNAL)
    assert [span.name for span in promotions] == ["promote default"] * 2
    assert all(
        span.attributes and span.attributes["messaging.batch.message_count"] == 1
        for span in promotions
    )
    # The scheduler's promote spans are its own; the task's spans form one trace.
    spans = tuple(span for span in everything if span.kind is not SpanKind.INTERNAL)
    assert {hex_trace(span) for span in spans} == {CLIENT_TRACE}
    (server,) = by_kind(spans, SpanKind.SERVER)
    assert server.name == "POST /api/v1/tasks"
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == CLIENT_SPAN
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 202

    (producer,) = by_kind(spans, SpanKind.PRODUCER)
    assert producer.name == f"send {qk.timers_in}"
    assert producer.parent is not None
    assert server.context is not None
    assert producer.parent.span_id == server.context.span_id
    assert producer.attributes is not None
    assert producer.attributes["messaging.system"] == "redis"
    assert producer.attributes["messaging.operation.type"] == "send"
    assert producer.attributes["messaging.destination.name"] == qk.timers_in
    assert producer.attributes["messaging.message.id"] == task_id

    # Each promotion (the delay, then the retry) links to the task's producer context.
    for promotion in promotions:
        assert [link.context.span_id for link in promotion.links] == [producer.context.span_id]
        assert hex_trace(promotion) != CLIENT_TRACE

    consumers = sorted(by_kind(spans, SpanKind.CONSUMER), key=attempt_of)
    assert [span.name for span in consumers] == ["process demo.fail"] * 2
    assert producer.context is not None
    for attempt, span in enumerate(consumers, start=1):
        assert span.parent is not None
        assert span.parent.span_id == producer.context.span_id
        assert span.attributes is not None
        assert span.attributes["conveyor.task.attempt"] == attempt
        assert span.attributes["conveyor.task.id"] == task_id
        assert span.attributes["messaging.destination.name"] == qk.tasks
        assert span.attributes["messaging.consumer.group.name"] == "workers"
        assert span.attributes["messaging.operation.type"] == "process"
    first, second = ([event.name for event in span.events] for span in consumers)
    assert first == ["exception", "retry_scheduled"]
    assert second == ["succeeded"]
    assert consumers[0].attributes is not None
    assert consumers[0].attributes["error.type"] == "DemoFailureError"


async def test_link_mode_starts_a_trace_linked_to_the_producer(
    redis: Redis, keys: Keys, exporter: InMemorySpanExporter
) -> None:
    keys = Keys(prefix=keys.prefix, queues=("default",))
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("send", kind=SpanKind.PRODUCER) as producer:
        traceparent, _ = trace_fields()
    envelope = new_envelope("demo.echo", {"x": 1}, "default", traceparent=traceparent)
    await redis.xadd(keys.queue("default").tasks, envelope.to_fields())  # type: ignore[arg-type]

    await worker_for(redis, keys, "link").run(burst=True)

    (consumer,) = by_kind(exporter.get_finished_spans(), SpanKind.CONSUMER)
    produced = producer.get_span_context()
    assert consumer.context is not None
    assert consumer.parent is None
    assert consumer.context.trace_id != produced.trace_id
    assert [link.context.span_id for link in consumer.links] == [produced.span_id]
    assert [event.name for event in consumer.events] == ["succeeded"]


async def test_a_cron_fire_starts_the_trace_its_task_runs_in(
    redis: Redis, keys: Keys, exporter: InMemorySpanExporter
) -> None:
    keys = Keys(prefix=keys.prefix, queues=("default",))
    t0 = 1_795_766_400_000
    schedule = ScheduleDefinition.model_validate(
        {"id": "s1", "cron": "* * * * * *", "task": {"type": "demo.echo"}, "created_at_ms": t0}
    )
    firer = Firer(redis, keys, FirerConfig(misfire_ms=60_000, dedup_ttl_ms=86_400_000))
    await firer.fire({"s1": schedule}, t0)
    fired = (await firer.fire({"s1": schedule}, t0 + 1000)).fired
    assert [fire.instant_ms for fire in fired] == [t0 + 1000]

    await worker_for(redis, keys).run(burst=True)

    spans = exporter.get_finished_spans()
    (producer,) = by_kind(spans, SpanKind.PRODUCER)
    (consumer,) = by_kind(spans, SpanKind.CONSUMER)
    assert producer.name == f"send {keys.queue('default').tasks}"
    assert producer.attributes is not None
    assert producer.attributes["conveyor.schedule.id"] == "s1"
    assert producer.attributes["conveyor.fire.instant_ms"] == t0 + 1000
    assert producer.parent is None
    assert producer.context is not None
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert hex_trace(consumer) == hex_trace(producer)
