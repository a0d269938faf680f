"""A global OpenTelemetry tracer provider for one test, with the previous state restored.

The OpenTelemetry API lets a process set its global provider once. Tests that
need the global one (code that looks it up, as services do) install theirs with
``installed_provider`` and get the process's state back afterwards, so no later
test sees their spans, exporter or sampler, whatever the order. The API keeps no
public reset: this swaps its two module globals, as its own test utilities do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once


@contextmanager
def installed_provider(provider: TracerProvider) -> Iterator[TracerProvider]:
    """Make ``provider`` the global tracer provider for the block."""
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(provider)
    try:
        yield provider
    finally:
        provider.shutdown()
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved


@contextmanager
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """An in-memory exporter on an SDK provider installed globally for the block."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with installed_provider(provider):
        yield exporter
