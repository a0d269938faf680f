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
