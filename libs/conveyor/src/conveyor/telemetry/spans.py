"""Spans of the task path: PRODUCER ``send <stream>`` and CONSUMER ``process <type>``.

Both check whether an SDK provider is installed. When
none is (the default), every method returns at its first line: the worker's hot
path pays one attribute check per task, not the cost of building attributes for
a no-op span.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
)
from opentelemetry.util.types import AttributeValue

from conveyor.envelope import TaskEnvelope
from conveyor.telemetry.messaging import Operation, messaging_attributes
from conveyor.telemetry.propagation import context_from_fields, link_from_fields, trace_fields

ConsumerContext = Literal["parent", "link"]


def tracing_installed() -> bool:
    """True when a real (SDK) tracer provider is installed globally."""
    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider | NoOpTracerProvider)


def _task_attributes(envelope: TaskEnvelope) -> dict[str, AttributeValue]:
    return {
        "conveyor.task.id": envelope.id,
        "conveyor.task.type": envelope.type,
        "conveyor.queue": envelope.queue,
        "conveyor.task.attempt": envelope.attempt,
    }


@contextmanager
def send_spans(
    streams: Sequence[str], envelopes: Sequence[TaskEnvelope], tracer: Tracer | None = None
) -> Iterator[list[TaskEnvelope]]:
    """PRODUCER ``send <stream>`` spans around one write of ``envelopes``.

    ``streams[i]`` is where ``envelopes[i]`` goes; there is one span per distinct
    stream (a batch is one span with ``messaging.batch.message_count``), children
    of the current span. Yields the envelopes re-stamped with their span's
    traceparent, to be written instead. ``messaging.message.id`` is the task id
    of a single task: entry ids are assigned inside the write script. A failure
    sets ``error.type`` and is re-raised. Without an SDK provider nothing is
    created and the envelopes are yielded unchanged.
    """
    if not tracing_installed() and tracer is None:
        yield list(envelopes)
        return
    tracer = tracer or trace.get_tracer("conveyor")
    groups: dict[str, list[int]] = {}
    for index, stream in enumerate(streams):
        groups.setdefault(stream, []).append(index)
    stamped = list(envelopes)
    spans: list[Span] = []
    for stream, indexes in groups.items():
        span = tracer.start_span(
            f"send {stream}",
            kind=SpanKind.PRODUCER,
            attributes=_send_attributes(stream, [envelopes[i] for i in indexes]),
        )
        spans.append(span)
        traceparent, tracestate = trace_fields(trace.set_span_in_context(span))
        if traceparent:
            for i in indexes:
                stamped[i] = replace(envelopes[i], traceparent=traceparent, tracestate=tracestate)
    try:
        yield stamped
    except Exception as exc:
        for span in spans:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
        raise
    finally:
        for span in spans:
            span.end()


def _send_attributes(stream: str, envelopes: Sequence[TaskEnvelope]) -> dict[str, AttributeValue]:
    attributes = messaging_attributes(Operation.SEND, stream)
    if len(envelopes) == 1:
        attributes["messaging.message.id"] = envelopes[0].id
        attributes.update(_task_attributes(envelopes[0]))
    else:
        attributes["messaging.batch.message_count"] = len(envelopes)
        attributes["conveyor.queue"] = envelopes[0].queue
    return attributes


class ConsumerSpans:
    """``process <type>`` CONSUMER spans, one per attempt, for one queue's worker."""

    def __init__(
        self,
        stream: str,
        group: str,
        mode: ConsumerContext = "parent",
        tracer: Tracer | None = None,
    ) -> None:
        self.enabled = tracer is not None or tracing_installed()
        self._tracer = tracer or trace.get_tracer("conveyor.worker")
        self._stream = stream
        self._group = group
        self._mode = mode

    def start(self, envelope: TaskEnvelope, entry_id: str, deliveries: int) -> Span | None:
        """Start the attempt's span, parented or linked to the envelope's producer context.

        None when tracing is off or the sampler dropped the span: the handler then
        runs without a current span (its log lines carry no trace ids).

        Attributes are set only on a sampled span, and kept few: the SDK validates
        each one, which is most of a span's cost on the worker's hot path. The
        task type is in the span name; the delivery count appears from the second
        delivery on.
        """
        if not self.enabled:
            return None
        parent: Context | None = Context()  # a new trace unless parented below
        links = []
        if self._mode == "parent":
            parent = context_from_fields(envelope.traceparent, envelope.tracestate) or Context()
        else:
            link = link_from_fields(envelope.traceparent, envelope.tracestate)
            links = [link] if link is not None else []
        span = self._tracer.start_span(
            f"process {envelope.type}", context=parent, kind=SpanKind.CONSUMER, links=links
        )
        if not span.is_recording():
            return None  # sampled out: nothing to attach, record or end
        attributes = messaging_attributes(
            Operation.PROCESS, self._stream, message_id=entry_id, group=self._group
        )
        attributes["conveyor.task.id"] = envelope.id
        attributes["conveyor.task.attempt"] = envelope.attempt
        if deliveries > 1:
            attributes["conveyor.delivery_count"] = deliveries
        span.set_attributes(attributes)
        return span

    @staticmethod
    @contextmanager
    def active(span: Span | None) -> Iterator[None]:
        """Make ``span`` current (handler code and tasks it creates inherit it)."""
        if span is None:
            yield
            return
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield
        finally:
            otel_context.detach(token)

    @staticmethod
    def failed(span: Span | None, exc: BaseException) -> None:
        """Record the handler's exception on the attempt's span."""
        if span is None:
            return
        span.record_exception(exc)
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))

    @staticmethod
    def finished(span: Span | None, outcome: str, committed: bool = True) -> None:
        """Add the committed outcome as an event (or ``outcome_not_committed``) and end."""
        if span is None:
            return
        if committed:
            span.add_event(outcome)
        else:
            span.add_event("outcome_not_committed", {"outcome": outcome})
        span.end()


@contextmanager
def promotion_span(queue: str, stream: str) -> Iterator[Callable[[int, int], None]]:
    """An INTERNAL ``promote <queue>`` span for one promotion batch that promoted anything.

    Yields ``record(promoted, lateness_max_ms)``, called once the batch is done;
    empty batches (most scheduler passes) make no span. The promoted tasks keep
    the traceparent they were written with, so their CONSUMER spans join the
    original request's trace; this span shows the scheduler's own work.
    """
    if not tracing_installed():
        yield _ignore
        return
    started = time.time_ns()

    def record(promoted: int, lateness_max_ms: int) -> None:
        if promoted == 0:
            return
        attributes = messaging_attributes(Operation.SEND, stream, batch=promoted)
        attributes["conveyor.queue"] = queue
        attributes["conveyor.promotion.lateness_max_ms"] = lateness_max_ms
        span = trace.get_tracer("conveyor.scheduler").start_span(
            f"promote {queue}", kind=SpanKind.INTERNAL, attributes=attributes, start_time=started
        )
        span.end()

    yield record


def _ignore(_promoted: int, _lateness_max_ms: int) -> None:
    return


def fire_span(
    envelope: TaskEnvelope, stream: str, schedule_id: str, instant_ms: int
) -> TaskEnvelope:
    """A PRODUCER ``send <stream>`` span for one cron fire; returns the envelope stamped with it.

    Each fire starts a trace (a schedule has no request to continue). Fires are
    built ahead of their instant, so the span marks when the fire was prepared;
    ``conveyor.fire.instant_ms`` says which instant it is. If another replica
    wins the fire, its task carries that replica's span instead.
    """
    if not tracing_installed():
        return envelope
    attributes = _send_attributes(stream, [envelope])
    attributes["conveyor.schedule.id"] = schedule_id
    attributes["conveyor.fire.instant_ms"] = instant_ms
    span = trace.get_tracer("conveyor.scheduler").start_span(
        f"send {stream}", context=Context(), kind=SpanKind.PRODUCER, attributes=attributes
    )
    traceparent, tracestate = trace_fields(trace.set_span_in_context(span))
    span.end()
    if not traceparent:
        return envelope
    return replace(envelope, traceparent=traceparent, tracestate=tracestate)
