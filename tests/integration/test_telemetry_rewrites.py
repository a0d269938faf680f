"""Tasks written again or changed (dead-letter replay, PUT) get a PRODUCER span in the
request's trace, linked to the trace the task carried before."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from conveyor.deadletter import DeadReason, dead_fields
from conveyor.envelope import decode_envelope, new_envelope
from conveyor.keys import Keys
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from conveyor_ingest.settings import IngestSettings
from conveyor_ingest.store import now_ms
from tracing_globals import recorded_spans

ORIGINAL_TRACE = "0af7651916cd43dd8448eb211c80319c"
ORIGINAL_SPAN = "b7ad6b7169203331"
ORIGINAL = f"00-{ORIGINAL_TRACE}-{ORIGINAL_SPAN}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter on an SDK provider installed globally for this test only."""
    with recorded_spans() as exporter:
        yield exporter


@pytest.fixture
async def client(
    redis_url: str, keys: Keys, exporter: InMemorySpanExporter
) -> AsyncIterator[TestClient[Any, Any]]:
    settings = RedisSettings(redis_url=redis_url, key_prefix=keys.prefix, queues=("default",))
    app = create_app(IngestSettings(auth_enabled=False), settings, consume=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def producers(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is SpanKind.PRODUCER]


def linked_span_ids(span: ReadableSpan) -> list[str]:
    return [format(link.context.span_id, "016x") for link in span.links]


async def test_a_replayed_dead_letter_is_sent_in_the_replay_trace_linked_to_its_own(
    client: TestClient[Any, Any], redis: Redis, keys: Keys, exporter: InMemorySpanExporter
) -> None:
    qk = keys.queue("default")
    envelope = new_envelope("demo.echo", {"x": 1}, "default", traceparent=ORIGINAL)
    fields = dead_fields(envelope.to_fields(), DeadReason.EXHAUSTED, "boom", 3, now_ms(), "1-0")
    added: Any = await redis.xadd(qk.dead, fields)  # type: ignore[arg-type]
    entry = added.decode()

    response = await client.post(f"/api/v1/dead-letters/default/{entry}/replay")
    assert response.status == 202, await response.text()

    (send,) = producers(exporter)
    assert send.name == f"send {qk.tasks}"
    assert linked_span_ids(send) == [ORIGINAL_SPAN]
    assert format(send.context.trace_id, "032x") != ORIGINAL_TRACE
    reply: Any = await redis.xrange(qk.tasks)
    ((entry_id, written),) = reply
    replayed = decode_envelope(entry_id.decode(), written, "default")
    assert replayed.traceparent.split("-")[2] == format(send.context.span_id, "016x")


@pytest.mark.parametrize("delay", [{"delay": 600}, {}], ids=["scheduled", "pending"])
async def test_changing_a_task_is_sent_linked_to_its_first_send(
    client: TestClient[Any, Any], keys: Keys, exporter: InMemorySpanExporter, delay: dict[str, int]
) -> None:
    body = {"type": "demo.echo", "payload": {"n": 1}, **delay}
    created = await client.post("/api/v1/tasks", json=body, headers={"traceparent": ORIGINAL})
    assert created.status == 202, await created.text()
    task_id = (await created.json())["data"]["id"]
    (first,) = producers(exporter)

    # The second PUT reads the record hash the first one made of the compact record.
    for payload in (2, 3):
        changed = await client.put(f"/api/v1/tasks/{task_id}", json={"payload": {"n": payload}})
        assert changed.status == 202, await changed.text()

    sends = [span for span in producers(exporter) if span is not first]
    assert [span.name for span in sends] == [f"send {keys.queue('default').control}"] * 2
    for send in sends:
        assert linked_span_ids(send) == [format(first.context.span_id, "016x")]
        assert send.attributes is not None
        assert send.attributes["conveyor.task.id"] == task_id
