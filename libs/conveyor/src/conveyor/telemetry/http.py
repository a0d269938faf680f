"""SERVER spans for HTTP requests, independent of the web framework.

The span continues a caller's trace when the request carries ``traceparent``
(and ``tracestate``), so a client's trace runs on through Conveyor. Without an
SDK provider the no-op tracer makes this nearly free.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from conveyor.telemetry.propagation import context_from_headers


@contextmanager
def server_span(
    method: str, route: str, path: str, headers: Mapping[str, str], tracer: Tracer | None = None
) -> Iterator[Span]:
    """A current SERVER span ``<method> <route>``; set the status with ``set_status_code``."""
    tracer = tracer or trace.get_tracer("conveyor.http")
    attributes = {"http.request.method": method, "http.route": route, "url.path": path}
    with tracer.start_as_current_span(
        f"{method} {route}",
        context=context_from_headers(headers),
        kind=SpanKind.SERVER,
        attributes=attributes,
    ) as span:
        yield span


def set_status_code(span: Span, status: int) -> None:
    """Record the response status; 5xx marks the span as an error (4xx is the client's)."""
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
