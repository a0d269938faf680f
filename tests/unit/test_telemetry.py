"""Tracing: context through envelope fields, semantic attributes, trace ids in logs."""

from __future__ import annotations

import json

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, get_current_span

from conveyor.logging import configure_logging
from conveyor.settings import LogSettings
from conveyor.telemetry.messaging import Operation, messaging_attributes
from conveyor.telemetry.propagation import (
    context_from_fields,
    context_from_headers,
    link_from_fields,
    trace_fields,
)

CLIENT_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_client_trace_continues_through_the_envelope_fields(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")
    incoming = context_from_headers({"Traceparent": CLIENT_PARENT, "X-Other": "1"})
    with tracer.start_as_current_span("send q", context=incoming, kind=SpanKind.PRODUCER) as span:
        traceparent, _ = trace_fields()
        producer_id = span.get_span_context().span_id
    consumer_parent = context_from_fields(traceparent)
    assert consumer_parent is not None
    with tracer.start_as_current_span("process t", context=consumer_parent, kind=SpanKind.CONSUMER):
        pass
    send, process = exporter.get_finished_spans()
    assert send.context.trace_id == process.context.trace_id == int(CLIENT_PARENT[3:35], 16)
    assert process.parent is not None
    assert process.parent.span_id == producer_id


def test_missing_or_invalid_trace_fields_give_no_context() -> None:
    assert context_from_fields("") is None
    assert context_from_fields("garbage") is None
    assert link_from_fields("") is None
    assert trace_fields() == ("", "")


def test_link_points_at_the_producer_span() -> None:
    link = link_from_fields(CLIENT_PARENT, "k=v")
    assert link is not None
    assert format(link.context.span_id, "016x") == "b7ad6b7169203331"
    assert link.context.trace_state.get("k") == "v"


def test_messaging_attributes_follow_the_conventions() -> None:
    attrs = messaging_attributes(Operation.SEND, "p:{q}:tasks", message_id="1-0", batch=3)
    assert attrs == {
        "messaging.system": "redis",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "p:{q}:tasks",
        "messaging.message.id": "1-0",
        "messaging.batch.message_count": 3,
    }


def test_log_lines_inside_a_span_carry_its_ids(
    provider: TracerProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(LogSettings(format="json"))
    try:
        with provider.get_tracer("test").start_as_current_span("work"):
            ids = get_current_span().get_span_context()
            structlog.get_logger("x").info("work_done")
        structlog.get_logger("x").info("outside")
    finally:
        structlog.reset_defaults()
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.strip().splitlines())
    assert inside["trace_id"] == format(ids.trace_id, "032x")
    assert inside["span_id"] == format(ids.span_id, "016x")
    assert "trace_id" not in outside
