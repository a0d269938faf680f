"""Settings of the ingest service (``CONVEYOR_INGEST_`` prefix)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    """HTTP API settings."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_INGEST_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the HTTP API listens on.")
