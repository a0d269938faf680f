"""Settings of the scheduler service (``CONVEYOR_SCHEDULER_`` prefix)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    """Cron, delayed-task and retry-timer settings."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_SCHEDULER_", extra="ignore", frozen=True)

    metrics_port: int = Field(
        default=9102, ge=0, le=65535, description="Metrics and probes port; 0 picks a free one."
    )
