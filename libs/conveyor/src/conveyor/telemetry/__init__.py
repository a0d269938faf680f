"""Tracing, trace-context propagation through envelopes, and the probes/metrics server."""
