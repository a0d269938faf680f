"""SERVER spans for HTTP requests, independent of the web framework.

The span continues a caller's trace when the request carries ``traceparent``
(and ``tracestate``), so a client's trace runs on through Conveyor. Attributes
go on recording spans only: a sampled-out request pays for the sampler and a
non-recording span, which still carries the trace to the tasks it enqueues.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from conveyor.telemetry.propagation import context_from_headers
from conveyor.telemetry.spans import tracer_for


@contextmanager
def server_span(
    method: str, route: str, path: str, headers: Mapping[str, str], tracer: Tracer | None = None
) -> Iterator[Span]:
    """A current SERVER span ``<method> <route>``; set the status with ``set_status_code``.

    An exception escaping the block is recorded and marks the span as an error.
    """
    tracer = tracer or tracer_for("conveyor.http")
    span = tracer.start_span(
        f"{method} {route}", context=context_from_headers(headers), kind=SpanKind.SERVER
    )
    if span.is_recording():
        span.set_attributes({"http.request.method": method, "http.route": route, "url.path": path})
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
    except BaseException as exc:
        if span.is_recording():
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
        raise
    finally:
        otel_context.detach(token)
        span.end()


def set_status_code(span: Span, status: int) -> None:
    """Record the response status; 5xx marks the span as an error (4xx is the client's)."""
    if not span.is_recording():
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
