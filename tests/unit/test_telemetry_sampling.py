"""Sampling shortcuts: decisions known from the parent's flags skip the SDK, and change nothing.

A sampled-out task or request still runs inside its trace's (non-recording) span,
so what it enqueues carries the trace context and the decision.
"""

from __future__ import annotations

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    get_current_span,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from conveyor.envelope import new_envelope
from conveyor.telemetry.consuming import ConsumerSpans
from conveyor.telemetry.propagation import remote_span_context, trace_fields, unsampled_remote_span
from conveyor.telemetry.spans import drops_unsampled_parents, send_spans

TRACE = "0af7651916cd43dd8448eb211c80319c"
UNSAMPLED = f"00-{TRACE}-b7ad6b7169203331-00"
SAMPLED = f"00-{TRACE}-b7ad6b7169203331-01"
STREAM = "conveyor:{default}:tasks"


def tracer_with(sampler: Sampler) -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


@pytest.mark.parametrize(
    "traceparent",
    [
        SAMPLED,
        UNSAMPLED,
        f"00-{TRACE}-b7ad6b7169203331-03",
        f"00-{'0' * 32}-b7ad6b7169203331-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"00-{'0' * 32}-b7ad6b7169203331-00",
        f"00-{TRACE}-{'0' * 16}-00",
        f"00-{TRACE.upper()}-b7ad6b7169203331-00",
        f"00-{TRACE.upper()}-b7ad6b7169203331-01",
        f" {SAMPLED}",
        f"{SAMPLED}-extra",
        f"01-{TRACE}-b7ad6b7169203331-01-extra",
        f"ff-{TRACE}-b7ad6b7169203331-01",
        "garbage",
    ],
)
@pytest.mark.parametrize("tracestate", ["", "k=v,a=b"])
def test_envelope_fields_read_as_the_sdk_propagator_reads_them(
    traceparent: str, tracestate: str
) -> None:
    carrier = {"traceparent": traceparent, "tracestate": tracestate}
    expected = get_current_span(TraceContextTextMapPropagator().extract(carrier))
    context = expected.get_span_context()
    parsed = remote_span_context(traceparent, tracestate)
    assert parsed == (context if context.is_valid else None)
    if parsed is not None:
        assert parsed.trace_state == context.trace_state
    # The unsampled fast path (ids parsed on first use) reads the same parent, or declines.
    lazy = unsampled_remote_span(traceparent, tracestate)
    assert (lazy is not None) == (traceparent == UNSAMPLED)
    if lazy is not None:
        assert parsed is not None
        assert lazy.get_span_context() == parsed
        assert lazy.get_span_context().trace_state == parsed.trace_state


def test_parent_based_samplers_are_recognised() -> None:
    assert drops_unsampled_parents(ParentBased(TraceIdRatioBased(0.1)), remote=True)
    assert drops_unsampled_parents(ParentBased(ALWAYS_ON), remote=False)
    keeps = ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON)
    assert not drops_unsampled_parents(keeps, remote=True)
    assert not drops_unsampled_parents(ALWAYS_ON, remote=True)


def test_an_unsampled_producer_makes_no_consumer_span_but_its_trace_goes_on() -> None:
    tracer, exporter = tracer_with(ParentBased(ALWAYS_ON))
    spans = ConsumerSpans(STREAM, "workers", tracer=tracer)
    span = spans.start(new_envelope("t", None, "default", traceparent=UNSAMPLED), "1-0", 1)
    assert span is not None
    assert not span.is_recording()
    token = ConsumerSpans.attach(span)
    try:
        child_traceparent, _ = trace_fields()  # what a task enqueued by the handler carries
    finally:
        ConsumerSpans.detach(token)
    ConsumerSpans.finished(span, "succeeded")
    assert child_traceparent == UNSAMPLED  # passed on unchanged: no span was made
    assert exporter.get_finished_spans() == ()


def test_a_sampler_that_keeps_unsampled_parents_still_decides() -> None:
    tracer, exporter = tracer_with(ALWAYS_ON)
    spans = ConsumerSpans(STREAM, "workers", tracer=tracer)
    span = spans.start(new_envelope("t", None, "default", traceparent=UNSAMPLED), "1-0", 1)
    ConsumerSpans.finished(span, "succeeded")
    (exported,) = exporter.get_finished_spans()
    assert exported.name == "process t"
    assert format(exported.context.trace_id, "032x") == TRACE
    assert exported.parent is not None
    assert format(exported.parent.span_id, "016x") == "b7ad6b7169203331"


def test_a_sampled_producer_gets_its_consumer_span_with_attributes() -> None:
    tracer, exporter = tracer_with(ParentBased(TraceIdRatioBased(0.0)))
    spans = ConsumerSpans(STREAM, "workers", tracer=tracer)
    envelope = new_envelope("t", None, "default", traceparent=SAMPLED)
    ConsumerSpans.finished(spans.start(envelope, "1-0", 2), "succeeded")
    (exported,) = exporter.get_finished_spans()
    assert exported.kind is SpanKind.CONSUMER
    assert exported.attributes is not None
    assert exported.attributes["messaging.message.id"] == "1-0"
    assert exported.attributes["conveyor.task.id"] == envelope.id
    assert exported.attributes["conveyor.delivery_count"] == 2
    assert [event.name for event in exported.events] == ["succeeded"]


def test_a_sampled_out_request_stamps_its_tasks_without_producer_spans() -> None:
    tracer, exporter = tracer_with(ParentBased(ALWAYS_ON))
    request = SpanContext(int(TRACE, 16), 0x1234, is_remote=False, trace_flags=TraceFlags(0))
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(request)))
    try:
        envelope = new_envelope("t", None, "default")
        with send_spans([STREAM], [envelope], tracer=tracer) as (stamped,):
            pass
    finally:
        otel_context.detach(token)
    assert stamped.traceparent == f"00-{TRACE}-{0x1234:016x}-00"
    assert exporter.get_finished_spans() == ()
