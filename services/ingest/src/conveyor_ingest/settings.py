"""Settings of the ingest service (``CONVEYOR_INGEST_`` prefix)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from conveyor.tokens import TokenSettings

DAY_S = 86_400.0


class IngestSettings(TokenSettings):
    """HTTP API settings (the JWT key and claims come from ``TokenSettings``)."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_INGEST_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the HTTP API listens on.")
    auth_enabled: bool = Field(default=True, description="Require a JWT bearer token.")
    jwt_public_keys_dir: str = Field(
        default="", description="Directory of <kid>.pem public keys for RS256/ES256 tokens."
    )
    jwt_algorithms: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("HS256", "RS256", "ES256"), description="Comma-separated accepted JWT algorithms."
    )
    rate_limit: float = Field(
        default=1000.0, gt=0, description="Requests per second per client (GCRA)."
    )
    rate_burst: int = Field(default=2000, ge=1, description="Requests a client may burst.")
    max_backlog: int = Field(
        default=1_000_000, ge=1, description="Queue backlog above which new tasks get 503."
    )
    status_retention: float = Field(
        default=DAY_S, gt=0, description="Seconds a task's read-model record is kept."
    )
    idempotency_ttl: float = Field(
        default=DAY_S, gt=0, description="Seconds an Idempotency-Key and its response are kept."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_batch: int = Field(default=1000, ge=1, le=10_000, description="Most tasks per batch.")
    max_delay: float = Field(
        default=30 * DAY_S, gt=0, description="Longest accepted delay; cancel marks last this long."
    )
    max_wait: float = Field(default=60.0, gt=0, description="Longest ?wait= on GET /tasks/{id}.")
    request_timeout: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds within which every write request is answered (503 at the latest).",
    )
    history_interval: float = Field(
        default=15.0,
        gt=0,
        le=30,
        description="Seconds between samples of the queues' per-minute history (one process "
        "at a time samples).",
    )
    overview_interval: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between the overview pushes to connected dashboards.",
    )

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _check_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"HS256", "HS384", "HS512", "RS256", "ES256"}
        bad = [name for name in value if name not in allowed]
        if bad or not value:
            msg = f"choose among {sorted(allowed)} (never 'none')"
            raise ValueError(msg)
        return value
