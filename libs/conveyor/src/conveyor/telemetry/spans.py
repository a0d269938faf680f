"""Spans of the task path: PRODUCER ``send <stream>`` and the scheduler's spans.

(The worker's CONSUMER spans are in ``consuming``.) Each helper first checks
whether an SDK provider is installed: when none is (the default), it returns at
its first line, without building attributes for a no-op span.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)
from opentelemetry.util.types import AttributeValue

from conveyor.envelope import TaskEnvelope
from conveyor.telemetry.messaging import Operation, messaging_attributes
from conveyor.telemetry.propagation import (
    context_from_fields,
    format_traceparent,
    remote_span_context,
    trace_fields,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import ParentBased


def tracing_installed() -> bool:
    """True when a real (SDK) tracer provider is installed globally."""
    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider | NoOpTracerProvider)


def tracer_for(name: str) -> Tracer:
    """The global provider's tracer ``name``, made once per provider (the SDK makes a new
    Tracer, with its scope, on every get_tracer call: a measurable share of a request)."""
    return _tracer(trace.get_tracer_provider(), name)


@functools.lru_cache(maxsize=32)
def _tracer(provider: TracerProvider, name: str) -> Tracer:
    return provider.get_tracer(name)


# ParentBased's description names the sampler it applies to each kind of parent.
_DROPS_UNSAMPLED = {
    True: "remoteParentNotSampled:AlwaysOffSampler",
    False: "localParentNotSampled:AlwaysOffSampler",
}


def drops_unsampled_parents(sampler: object, remote: bool) -> bool:
    """True when ``sampler`` never samples a child of an unsampled (remote or local) parent.

    Then the decision for such a child is known from the parent's flags alone, and
    the callers skip the SDK (span object, sampler call, id generation) entirely.
    """
    # Imported here: a producer that installs only the OpenTelemetry API imports this
    # module; only with an SDK provider (so the SDK already loaded) do callers get here.
    try:
        from opentelemetry.sdk.trace.sampling import ParentBased
    except ImportError:  # a provider of another implementation: no ParentBased of the SDK
        return False
    return isinstance(sampler, ParentBased) and _DROPS_UNSAMPLED[remote] in _description(sampler)


@functools.lru_cache(maxsize=32)
def _description(sampler: ParentBased) -> str:
    """The sampler's description (built anew, from its parts, on every call)."""
    description: str = sampler.get_description()  # type: ignore[no-untyped-call] # SDK: unannotated
    return description


def follows_unsampled_parent(tracer: Tracer, parent: Span) -> bool:
    """True when ``parent`` is a valid, unsampled span whose children ``tracer`` drops."""
    context = parent.get_span_context()
    return (
        context.is_valid
        and not context.trace_flags.sampled
        and drops_unsampled_parents(getattr(tracer, "sampler", None), context.is_remote)
    )


def _task_attributes(envelope: TaskEnvelope) -> dict[str, AttributeValue]:
    return {
        "conveyor.task.id": envelope.id,
        "conveyor.task.type": envelope.type,
        "conveyor.queue": envelope.queue,
        "conveyor.task.attempt": envelope.attempt,
    }


@contextmanager
def send_spans(
    streams: Sequence[str],
    envelopes: Sequence[TaskEnvelope],
    tracer: Tracer | None = None,
    *,
    link_existing: bool = False,
) -> Iterator[list[TaskEnvelope]]:
    """PRODUCER ``send <stream>`` spans around one write of ``envelopes``.

    ``streams[i]`` is where ``envelopes[i]`` goes; there is one span per distinct
    stream (a batch is one span with ``messaging.batch.message_count``), children
    of the current span. Yields the envelopes re-stamped with their span's
    traceparent, to be written instead. ``messaging.message.id`` is the task id
    of a single task: entry ids are assigned inside the write script. A failure
    sets ``error.type`` and is re-raised. Without an SDK provider nothing is
    created and the envelopes are yielded unchanged. ``link_existing`` (a task
    written again: replayed, changed) links each span to the trace context the
    envelopes carried before they are re-stamped.
    """
    if not tracing_installed() and tracer is None:
        yield list(envelopes)
        return
    tracer = tracer or tracer_for("conveyor")
    current = trace.get_current_span()
    if not current.is_recording() and follows_unsampled_parent(tracer, current):
        # The sampler drops children of an unsampled parent: no spans; the tasks carry
        # the request's (unsampled) context, so the worker follows the same decision.
        yield _stamped_with(envelopes, current.get_span_context())
        return
    spans, stamped = _start_sends(tracer, streams, envelopes, link_existing)
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


@contextmanager
def parented_send_spans(
    streams: Sequence[str],
    envelopes: Sequence[TaskEnvelope],
    parents: Sequence[tuple[str, str]],
    tracer: Tracer | None = None,
) -> Iterator[list[TaskEnvelope]]:
    """``send_spans`` where envelope i's span is a child of ``parents[i]``.

    ``parents[i]`` is a (traceparent, tracestate) pair; ("", "") means the current
    span, as in ``send_spans``. A CloudEvent carries the trace context of the
    transmission's start (the Distributed Tracing extension): its task's span continues
    that trace, not the HTTP request's. Envelopes of one parent share their spans.
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for index, parent in enumerate(parents):
        groups.setdefault(parent, []).append(index)
    stamped = list(envelopes)
    with ExitStack() as stack:
        for parent, indexes in groups.items():
            context = context_from_fields(*parent)
            token = None if context is None else otel_context.attach(context)
            try:
                sends = send_spans([streams[i] for i in indexes], [envelopes[i] for i in indexes],
                                   tracer)  # fmt: skip
                sent = stack.enter_context(sends)
            finally:
                if token is not None:
                    otel_context.detach(token)
            for index, envelope in zip(indexes, sent, strict=True):
                stamped[index] = envelope
        yield stamped


def _start_sends(
    tracer: Tracer, streams: Sequence[str], envelopes: Sequence[TaskEnvelope], link_existing: bool
) -> tuple[list[Span], list[TaskEnvelope]]:
    """One started span per distinct stream, and the envelopes stamped with their span."""
    groups: dict[str, list[int]] = {}
    for index, stream in enumerate(streams):
        groups.setdefault(stream, []).append(index)
    stamped = list(envelopes)
    spans: list[Span] = []
    for stream, indexes in groups.items():
        group = [envelopes[i] for i in indexes]
        links = (
            _links([f for e in group for f in (e.traceparent, e.tracestate)])
            if link_existing
            else ()
        )
        span = tracer.start_span(f"send {stream}", kind=SpanKind.PRODUCER, links=links)
        if span.is_recording():
            span.set_attributes(_send_attributes(stream, group))
        spans.append(span)
        traceparent, tracestate = trace_fields(trace.set_span_in_context(span))
        if traceparent:
            for i in indexes:
                stamped[i] = replace(envelopes[i], traceparent=traceparent, tracestate=tracestate)
    return spans, stamped


def _stamped_with(envelopes: Sequence[TaskEnvelope], context: SpanContext) -> list[TaskEnvelope]:
    if not context.is_valid:
        return list(envelopes)
    traceparent, tracestate = format_traceparent(context), context.trace_state.to_header()
    return [replace(e, traceparent=traceparent, tracestate=tracestate) for e in envelopes]


def _send_attributes(stream: str, envelopes: Sequence[TaskEnvelope]) -> dict[str, AttributeValue]:
    attributes = messaging_attributes(Operation.SEND, stream)
    if len(envelopes) == 1:
        attributes["messaging.message.id"] = envelopes[0].id
        attributes.update(_task_attributes(envelopes[0]))
    else:
        attributes["messaging.batch.message_count"] = len(envelopes)
        attributes["conveyor.queue"] = envelopes[0].queue
    return attributes


class Promotion:
    """Records one promotion batch as an INTERNAL ``promote <queue>`` span.

    ``wanted`` says whether a span is made at all (an SDK provider is installed);
    then the promotion script returns the promoted tasks' trace contexts, and the
    span links to each of them (the SDK keeps the first 128 links of a span). The
    tasks keep the traceparent they were written with, so their CONSUMER spans
    join the original request's trace; the links lead from the scheduler's work to
    those traces. Empty batches (most scheduler passes) make no span.
    """

    def __init__(self, queue: str, stream: str, tracer: Tracer | None = None) -> None:
        self.wanted = tracer is not None or tracing_installed()
        self._tracer = tracer
        self._queue = queue
        self._stream = stream
        self._started = time.time_ns()

    def record(
        self, promoted: int, lateness_max_ms: int, contexts: Sequence[str | bytes] = ()
    ) -> None:
        """End the batch: ``contexts`` is the script's flat [traceparent, tracestate, ...]."""
        if not self.wanted or promoted == 0:
            return
        attributes = messaging_attributes(Operation.SEND, self._stream, batch=promoted)
        attributes["conveyor.queue"] = self._queue
        attributes["conveyor.promotion.lateness_max_ms"] = lateness_max_ms
        tracer = self._tracer or tracer_for("conveyor.scheduler")
        span = tracer.start_span(
            f"promote {self._queue}",
            context=Context(),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=_links(contexts),
            start_time=self._started,
        )
        span.end()


def _links(contexts: Sequence[str | bytes]) -> list[Link]:
    links = []
    for i in range(0, len(contexts) - 1, 2):
        parent, state = (_text(value) for value in contexts[i : i + 2])
        span_context = remote_span_context(parent, state)
        if span_context is not None:
            links.append(Link(span_context))
    return links


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
    span = tracer_for("conveyor.scheduler").start_span(
        f"send {stream}", context=Context(), kind=SpanKind.PRODUCER, attributes=attributes
    )
    traceparent, tracestate = trace_fields(trace.set_span_in_context(span))
    span.end()
    if not traceparent:
        return envelope
    return replace(envelope, traceparent=traceparent, tracestate=tracestate)
