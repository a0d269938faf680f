"""Settings of the scheduler service (``CONVEYOR_SCHEDULER_`` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    """Cron, delayed-task and retry-timer settings."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_SCHEDULER_", extra="ignore", frozen=True)

    metrics_port: int = Field(
        default=9102, ge=0, le=65535, description="Metrics and probes port; 0 picks a free one."
    )
    schedules_file: Path | None = Field(
        default=None, description="YAML schedules file applied at start (none when unset)."
    )
    batch: int = Field(
        default=500, ge=1, le=10_000, description="Entries per read and timers per promotion step."
    )
    poll_interval_ms: int = Field(
        default=100, ge=5, le=10_000, description="Longest pause between two scheduler passes (ms)."
    )
    misfire_threshold_ms: int = Field(
        default=5_000,
        ge=100,
        description="A cron instant this late (ms) counts as missed: its misfire policy applies.",
    )
    fire_dedup_ttl_ms: int = Field(
        default=86_400_000,
        ge=60_000,
        description="How long after its instant (ms) a fire's dedup key is kept.",
    )
    claim_idle_ms: int = Field(
        default=60_000,
        ge=1_000,
        description="Entries a dead replica read but never applied are taken over after (ms).",
    )
    fire_lease_ms: int = Field(
        default=2_000,
        ge=0,
        le=60_000,
        description="Fire lease (ms): replicas without it fire only instants this overdue; 0: off.",
    )
    consumer: str = Field(
        default="",
        max_length=200,
        description="Consumer name of this replica in the scheduler group (default: host-pid).",
    )
