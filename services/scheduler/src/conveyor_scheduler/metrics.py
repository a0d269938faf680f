"""The scheduler's Prometheus metrics, in a registry of its own (served by the probe server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from conveyor_scheduler.scheduler import TickResult

_LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SchedulerMetrics:
    """Counters and histograms updated once per pass."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.filed = Counter("conveyor_scheduler_timers_filed", "Timers filed.", registry=r)
        self.dead = Counter(
            "conveyor_scheduler_timers_dead", "Timer entries dead-lettered.", registry=r
        )
        self.promoted = Counter(
            "conveyor_scheduler_timers_promoted", "Timers promoted to tasks.", registry=r
        )
        self.promotion_lateness = Gauge(
            "conveyor_scheduler_promotion_lateness_max_seconds",
            "Largest promotion lateness of the last pass that promoted.",
            registry=r,
        )
        self.timer_lag = Gauge(
            "conveyor_scheduler_timer_lag_seconds",
            "Age of the oldest due timer still waiting after a pass (0: no backlog).",
            ["queue"],
            registry=r,
        )
        self.fires = Counter("conveyor_scheduler_fires", "Cron fires by this replica.", registry=r)
        self.fire_lateness = Histogram(
            "conveyor_scheduler_fire_lateness_seconds",
            "Fire time minus scheduled instant (jitter included).",
            buckets=_LATENESS_BUCKETS,
            registry=r,
        )
        self.missed = Counter(
            "conveyor_scheduler_misfires", "Cron instants found missed after downtime.", registry=r
        )
        self.errors = Counter("conveyor_scheduler_pass_errors", "Passes that failed.", registry=r)

    def observe(self, result: TickResult, now_ms: int) -> None:
        """Record one pass."""
        self.filed.inc(result.filed)
        self.dead.inc(result.dead)
        self.promoted.inc(result.promoted)
        if result.promoted:
            self.promotion_lateness.set(result.promotion_lateness_max_ms / 1000)
        for queue, lag_ms in result.timer_lag_ms.items():
            self.timer_lag.labels(queue=queue).set(lag_ms / 1000)
        self.fires.inc(len(result.fires))
        for fire in result.fires:
            self.fire_lateness.observe(max(0, now_ms - fire.instant_ms) / 1000)
        self.missed.inc(result.missed)
