"""CONSUMER ``process <type>`` spans: one per attempt of a task, in the worker.

Costs, per task, are what this module is shaped by (no-op handlers run in ~20 µs):

- tracing off (no SDK provider): one attribute check;
- parent-based sampling and a producer that did not sample (the envelope's
  ``traceparent`` flags say so): no SDK call at all, and in the common form
  (version 00) not even the ids are parsed until something reads them. The decision is the
  sampler's own (ParentBased drops the children of an unsampled remote parent),
  taken from the flags; the handler still runs with the producer's context
  current, so whatever it enqueues carries the trace context, unsampled;
- a new trace (no producer context): the SDK's sampler decides;
- a sampled span: the SDK's own cost (~15-20 µs in CPython: id generation,
  attribute validation, locks, the processor's queue), plus about 2 µs here.
"""

from __future__ import annotations

from contextvars import Token
from typing import Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
)
from opentelemetry.util.types import AttributeValue

from conveyor.envelope import TaskEnvelope
from conveyor.telemetry.messaging import Operation, messaging_attributes
from conveyor.telemetry.propagation import remote_span_context, unsampled_remote_span
from conveyor.telemetry.spans import drops_unsampled_parents, tracer_for, tracing_installed

ConsumerContext = Literal["parent", "link"]
_NO_PARENT = Context()


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
        self._tracer = tracer or tracer_for("conveyor.worker")
        self._parented = mode == "parent"
        sampler = getattr(self._tracer, "sampler", None)  # an SDK Tracer's; None otherwise
        self._unsampled_parent_drops = self._parented and drops_unsampled_parents(sampler, True)
        self._fixed = messaging_attributes(Operation.PROCESS, stream, group=group)
        self._names: dict[str, str] = {}

    def start(self, envelope: TaskEnvelope, entry_id: str, deliveries: int) -> Span | None:
        """The attempt's span: parented or linked to the envelope's producer context.

        None when tracing is off. A span that is not recording (sampled out) is
        still returned: made current, it carries the trace to what the handler
        enqueues. Attributes are set on recording spans only.
        """
        if not self.enabled:
            return None
        if self._unsampled_parent_drops:
            # The common unsampled case, decided from the flags' text: nothing parsed.
            unsampled = unsampled_remote_span(envelope.traceparent, envelope.tracestate)
            if unsampled is not None:
                return unsampled
        parent = remote_span_context(envelope.traceparent, envelope.tracestate)
        if parent is not None and self._unsampled_parent_drops and not parent.trace_flags.sampled:
            # No span is made, so the producer's context is passed on unchanged (as W3C
            # trace context has a participant that records nothing do).
            return NonRecordingSpan(parent)
        name = self._names.get(envelope.type)
        if name is None:
            name = self._names[envelope.type] = f"process {envelope.type}"
        if parent is None:
            span = self._tracer.start_span(name, context=_NO_PARENT, kind=SpanKind.CONSUMER)
        elif self._parented:
            context = trace.set_span_in_context(NonRecordingSpan(parent))
            span = self._tracer.start_span(name, context=context, kind=SpanKind.CONSUMER)
        else:
            links = (trace.Link(parent),)
            span = self._tracer.start_span(
                name, context=_NO_PARENT, kind=SpanKind.CONSUMER, links=links
            )
        if span.is_recording():
            span.set_attributes(self._attributes(envelope, entry_id, deliveries))
        return span

    def _attributes(
        self, envelope: TaskEnvelope, entry_id: str, deliveries: int
    ) -> dict[str, AttributeValue]:
        attributes = self._fixed.copy()
        attributes["messaging.message.id"] = entry_id
        attributes["conveyor.task.id"] = envelope.id
        attributes["conveyor.task.attempt"] = envelope.attempt
        if deliveries > 1:
            attributes["conveyor.delivery_count"] = deliveries
        return attributes

    @staticmethod
    def attach(span: Span) -> Token[Context]:
        """Make ``span`` current (handler code and tasks it creates inherit it); a token."""
        return otel_context.attach(trace.set_span_in_context(span))

    @staticmethod
    def detach(token: Token[Context]) -> None:
        """Undo ``attach``."""
        otel_context.detach(token)

    @staticmethod
    def failed(span: Span | None, exc: BaseException) -> None:
        """Record the handler's exception on the attempt's span."""
        if span is None or not span.is_recording():
            return
        span.record_exception(exc)
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))

    @staticmethod
    def finished(span: Span | None, outcome: str, committed: bool = True) -> None:
        """Add the committed outcome as an event (or ``outcome_not_committed``) and end."""
        if span is None or not span.is_recording():
            return
        if committed:
            span.add_event(outcome)
        else:
            span.add_event("outcome_not_committed", {"outcome": outcome})
        span.end()
