"""The worker's Prometheus metrics, on a registry the service owns (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds; from sub-millisecond handlers to the default 5-minute visibility timeout.
_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True, slots=True)
class WorkerMetrics:
    """Counters the worker updates; exposed on /metrics by the probe server."""

    outcomes: Counter
    duplicates: Counter
    deleted_pending: Counter
    leases_lost: Counter
    reclaimed: Counter
    in_flight: Gauge
    handler_seconds: Histogram
    start_latency: Histogram
    breaker_open: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WorkerMetrics:
        """Register the worker's metrics on ``registry``."""
        return cls(
            outcomes=Counter(
                "conveyor_worker_outcomes",
                "Committed task outcomes.",
                ["queue", "outcome"],
                registry=registry,
            ),
            duplicates=Counter(
                "conveyor_worker_duplicate_commits",
                "Effect commits skipped because the task's mark existed (redeliveries).",
                ["queue"],
                registry=registry,
            ),
            deleted_pending=Counter(
                "conveyor_worker_deleted_pending",
                "Pending entries XAUTOCLAIM reported as deleted (trimmed before their ack).",
                ["queue"],
                registry=registry,
            ),
            leases_lost=Counter(
                "conveyor_worker_leases_lost",
                "Running tasks whose entry another consumer claimed.",
                ["queue"],
                registry=registry,
            ),
            reclaimed=Counter(
                "conveyor_worker_reclaimed",
                "Entries claimed from other consumers after the visibility timeout.",
                ["queue"],
                registry=registry,
            ),
            in_flight=Gauge(
                "conveyor_worker_in_flight",
                "Tasks read and not yet committed.",
                ["queue"],
                registry=registry,
            ),
            handler_seconds=Histogram(
                "conveyor_worker_handler_seconds",
                "Handler run time per attempt, up to its outcome (timeouts included).",
                ["queue", "type"],
                buckets=_BUCKETS,
                registry=registry,
            ),
            start_latency=Histogram(
                "conveyor_worker_start_latency_seconds",
                "From the task's entry entering the stream (enqueue or promotion) to its start.",
                ["queue", "type"],
                buckets=_BUCKETS,
                registry=registry,
            ),
            breaker_open=Gauge(
                "conveyor_worker_breaker_open",
                "1 while the task type's circuit breaker is open or half-open in this process.",
                ["type"],
                registry=registry,
            ),
        )
