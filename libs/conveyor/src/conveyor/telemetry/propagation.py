"""W3C trace context in envelope fields (``traceparent``, ``tracestate``)."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.trace import Link, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def trace_fields(context: Context | None = None) -> tuple[str, str]:
    """(traceparent, tracestate) of ``context`` (default: the current one); empty if none."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier.get("traceparent", ""), carrier.get("tracestate", "")


def context_from_headers(headers: Mapping[str, str]) -> Context:
    """The trace context a client sent in ``traceparent``/``tracestate`` HTTP headers."""
    carrier = {
        k.lower(): v for k, v in headers.items() if k.lower() in ("traceparent", "tracestate")
    }
    return _PROPAGATOR.extract(carrier)


def context_from_fields(traceparent: str, tracestate: str = "") -> Context | None:
    """The producer's context carried by an envelope, or None when it carries none."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    context = _PROPAGATOR.extract(carrier)
    return context if get_current_span(context).get_span_context().is_valid else None


def link_from_fields(traceparent: str, tracestate: str = "") -> Link | None:
    """A span link to the producer's span, for consumers configured to link."""
    context = context_from_fields(traceparent, tracestate)
    if context is None:
        return None
    return Link(get_current_span(context).get_span_context())
