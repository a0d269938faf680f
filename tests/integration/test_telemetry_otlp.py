"""The real OTLP/HTTP exporter delivers spans to a receiver started by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.trace import SpanKind

from conveyor.envelope import new_envelope
from conveyor.localserver import free_port
from conveyor.telemetry.consuming import ConsumerSpans
from conveyor.telemetry.tracing import TracingSettings, configure_tracing
from waiting import wait_for


class Receiver:
    """Accepts POST /v1/traces and keeps the decoded requests."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        self.requests.append(message)
        self.content_types.append(request.content_type)
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield receiver, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_spans_reach_an_otlp_http_receiver(
    receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, endpoint = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    provider = configure_tracing("worker", TracingSettings(), install=False)
    assert provider is not None
    spans = ConsumerSpans("conveyor:{default}:tasks", "workers", tracer=provider.get_tracer("t"))
    envelope = new_envelope("demo.echo", None, "default")
    span = spans.start(envelope, "1-0", 1)
    spans.finished(span, "succeeded")
    # The exporter posts from the processor's thread with a blocking client: flush
    # off the event loop, which must stay free to answer it.
    await asyncio.to_thread(provider.shutdown)

    await wait_for(lambda: sink.requests, within=20, what="an OTLP export")
    assert sink.content_types == ["application/x-protobuf"]
    (resource_spans,) = sink.requests[0].resource_spans
    resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
    assert resource["service.name"] == "conveyor-worker"
    assert resource["deployment.environment"] == "test"
    (exported,) = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert exported.name == "process demo.echo"
    assert exported.kind == SpanKind.CONSUMER.value + 1  # OTLP enums count from UNSPECIFIED
    attributes = {kv.key: kv.value for kv in exported.attributes}
    assert attributes["messaging.system"].string_value == "redis"
    assert attributes["messaging.message.id"].string_value == "1-0"
    assert attributes["conveyor.task.id"].string_value == envelope.id
    assert [event.name for event in exported.events] == ["succeeded"]


def test_nothing_is_exported_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert configure_tracing("worker", TracingSettings(), install=False) is None
