"""OpenTelemetry set-up for one service process.

Export happens only when asked: OTLP over http/protobuf when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
set, the console exporter when ``CONVEYOR_TRACING_CONSOLE=true``. Otherwise no
SDK provider is installed and the API's no-op tracer costs next to nothing;
trace context still travels in the envelopes. The standard ``OTEL_*`` variables
(service name, resource attributes, sampler and its argument) are honoured by
the SDK itself; the default sampler is parent-based always-on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class TracingSettings(BaseSettings):
    """Conveyor's own tracing switches (the exporter itself is configured by OTEL_*)."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_TRACING_", extra="ignore", frozen=True)

    console: bool = Field(default=False, description="Print finished spans to stdout.")
    consumer_context: Literal["parent", "link"] = Field(
        default="parent",
        description="Worker/scheduler spans are children of the producer span, or linked to it.",
    )


def configure_tracing(
    service: str,
    settings: TracingSettings,
    extra: SpanProcessor | None = None,
    *,
    install: bool = True,
) -> TracerProvider | None:
    """Install a TracerProvider for ``conveyor-<service>`` when anything is to be exported.

    ``extra`` adds a span processor (tests pass one around an in-memory exporter).
    ``install=False`` leaves the process's global provider alone (tests).
    Returns the provider, or None when nothing is exported.
    """
    # The SDK is imported only when something is exported: a service that traces
    # nothing starts without it (tens of ms).
    processors: list[SpanProcessor] = []
    if any(os.environ.get(name) for name in OTLP_VARIABLES):
        # Imported here: the exporter pulls in protobuf and requests, needed only when used.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        processors.append(BatchSpanProcessor(OTLPSpanExporter()))
    if settings.console:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
    if extra is not None:
        processors.append(extra)
    if not processors:
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    attributes = (
        {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"conveyor-{service}"}
    )
    provider = TracerProvider(resource=Resource.create(attributes))
    for processor in processors:
        provider.add_span_processor(processor)
    if install:
        trace.set_tracer_provider(provider)
    return provider
