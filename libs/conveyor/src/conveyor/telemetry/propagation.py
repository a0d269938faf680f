"""W3C trace context in envelope fields (``traceparent``, ``tracestate``).

Envelope fields are parsed here rather than through the SDK's propagator: the
common form (version 00, 55 characters) takes one regex match instead of a
carrier dict, a getter and a new Context per task; anything else goes through
the propagator, so both read the same inputs the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    Link,
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    TraceState,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_VERSION_00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_NO_STATE = TraceState()
_FLAGS = {"00": TraceFlags(0), "01": TraceFlags(1)}


def trace_fields(context: Context | None = None) -> tuple[str, str]:
    """(traceparent, tracestate) of ``context`` (default: the current one); empty if none."""
    span_context = get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return "", ""
    return format_traceparent(span_context), span_context.trace_state.to_header()


def format_traceparent(span_context: SpanContext) -> str:
    """The W3C ``traceparent`` value naming ``span_context``."""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{span_context.trace_flags:02x}"
    )


def context_from_headers(headers: Mapping[str, str]) -> Context:
    """The trace context a client sent in ``traceparent``/``tracestate`` HTTP headers.

    ``headers`` is a web framework's case-insensitive mapping, or a plain dict in any case.
    """
    if isinstance(headers, dict):
        headers = {k.lower(): v for k, v in headers.items()}
    parent = remote_span_context(headers.get("traceparent", ""), headers.get("tracestate", ""))
    return Context() if parent is None else set_span_in_context(NonRecordingSpan(parent))


def remote_span_context(traceparent: str, tracestate: str = "") -> SpanContext | None:
    """The producer's span context named by envelope fields, or None when there is none."""
    if not traceparent:
        return None
    match = _VERSION_00.fullmatch(traceparent)
    if match is None:
        return _extracted(traceparent, tracestate)
    trace_id, span_id, flags = match.groups()
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return SpanContext(
        int(trace_id, 16),
        int(span_id, 16),
        is_remote=True,
        trace_flags=_FLAGS.get(flags) or TraceFlags(int(flags, 16)),
        trace_state=TraceState.from_header([tracestate]) if tracestate else _NO_STATE,
    )


def _extracted(traceparent: str, tracestate: str) -> SpanContext | None:
    """Other versions and surrounding blanks: as the SDK's propagator reads them."""
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    span_context = get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    return span_context if span_context.is_valid else None


def context_from_fields(traceparent: str, tracestate: str = "") -> Context | None:
    """The producer's context carried by an envelope, or None when it carries none."""
    parent = remote_span_context(traceparent, tracestate)
    return None if parent is None else set_span_in_context(NonRecordingSpan(parent))


def link_from_fields(traceparent: str, tracestate: str = "") -> Link | None:
    """A span link to the producer's span, for consumers configured to link."""
    parent = remote_span_context(traceparent, tracestate)
    return None if parent is None else Link(parent)


class _UnsampledRemoteSpan(NonRecordingSpan):
    """A producer's unsampled span, its ids parsed only if something asks for them.

    Made current around a handler whose trace is not sampled, it passes the producer's
    context on (to what the handler enqueues) without the per-task cost of parsing the
    ids and building a SpanContext, which most such tasks never need.
    """

    def __init__(self, traceparent: str, tracestate: str) -> None:
        # NonRecordingSpan.__init__ is not called: ``_context`` is computed on first use.
        self._fields = (traceparent, tracestate)
        self._parsed: SpanContext | None = None

    @property
    def _context(self) -> SpanContext:  # type: ignore[override] # the base's attribute, computed
        if self._parsed is None:
            self._parsed = remote_span_context(*self._fields) or INVALID_SPAN_CONTEXT
        return self._parsed


def unsampled_remote_span(traceparent: str, tracestate: str = "") -> NonRecordingSpan | None:
    """The producer's span when the fields name a valid, unsampled version-00 parent (the
    common form), else None (then ``remote_span_context`` reads them)."""
    if not traceparent.endswith("-00") or _VERSION_00.fullmatch(traceparent) is None:
        return None
    if traceparent[3:35] == _ZERO_TRACE or traceparent[36:52] == _ZERO_SPAN:
        return None
    return _UnsampledRemoteSpan(traceparent, tracestate)
