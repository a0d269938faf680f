"""Settings of the worker service (``CONVEYOR_WORKER_`` prefix)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """Consumer-group worker settings."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_WORKER_", extra="ignore", frozen=True)

    concurrency: int = Field(default=64, ge=1, le=10_000, description="Handlers run at once.")
    batch: int = Field(default=256, ge=1, le=10_000, description="Entries per XREADGROUP.")
    block_ms: int = Field(default=1000, ge=0, description="XREADGROUP BLOCK in milliseconds.")
    visibility_timeout: float = Field(
        default=30.0, gt=0, description="Seconds before another worker may claim a task."
    )
    max_deliveries: int = Field(
        default=10, ge=1, description="Deliveries before a task is dead-lettered as poison."
    )
    shutdown_grace: float = Field(
        default=25.0, ge=0, description="Seconds in-flight tasks get to finish on SIGTERM."
    )
    metrics_port: int = Field(
        default=9101, ge=0, le=65535, description="Metrics and probes port; 0 picks a free one."
    )
    handlers: str = Field(
        default="conveyor_worker.examples",
        description="Comma-separated modules to import; their Registry objects are served.",
    )
    mark_ttl: float = Field(
        default=86_400.0, gt=0, description="Seconds an exactly-once effect mark is kept."
    )
    events_maxlen: int = Field(
        default=1_000_000,
        ge=0,
        description="Approximate cap on the events stream (XADD MAXLEN ~); 0: no cap.",
    )
    cancel_check_window: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Seconds an empty cancelled set, seen at the last commit, lets tasks start"
            " without a cancel check round trip; 0: check before every batch."
        ),
    )
    reclaim_interval: float = Field(
        default=5.0, gt=0, description="Seconds between XAUTOCLAIM passes for stalled tasks."
    )
    breaker_enabled: bool = Field(default=True, description="Per-task-type circuit breakers.")
    breaker_failure_ratio: float = Field(
        default=0.5, gt=0, le=1, description="Failure ratio in the window that opens a breaker."
    )
    breaker_min_volume: int = Field(
        default=20, ge=1, description="Attempts in the window before a breaker may open."
    )
    breaker_window: float = Field(
        default=30.0, gt=0, description="Seconds of the breaker's counting window."
    )
    breaker_open: float = Field(
        default=30.0, gt=0, description="Seconds a breaker stays open before a probe."
    )
    janitor_interval: float = Field(
        default=60.0, gt=0, description="Seconds between janitor passes (consumers, trimming)."
    )
    heartbeat_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between heartbeats; a worker unheard for 3 intervals is gone.",
    )
    pause_check_interval: float = Field(
        default=1.0,
        gt=0,
        le=1.0,
        description="Seconds between reads of which queues are paused (at most 1).",
    )
    consumer_idle: float = Field(
        default=3600.0,
        gt=0,
        description="Idle seconds before the janitor removes a consumer with nothing pending.",
    )

    @property
    def handler_modules(self) -> list[str]:
        """The module paths named by ``handlers``."""
        return [name.strip() for name in self.handlers.split(",") if name.strip()]
