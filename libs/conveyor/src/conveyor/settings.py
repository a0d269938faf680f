"""Settings shared by every service, and the one way to load any settings class.

Each service defines its own class (``CONVEYOR_INGEST_``, ``CONVEYOR_WORKER_``,
``CONVEYOR_SCHEDULER_`` prefixes) in its ``settings.py``; this module holds what
they share. Settings are built once in ``__main__`` and passed down.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from conveyor.errors import ConfigurationError

QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PREFIX_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class RedisSettings(BaseSettings):
    """Where Redis is and how Conveyor's keys are laid out in it."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore", frozen=True)

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis URL (redis://, rediss:// or unix://), with user and password if needed.",
    )
    key_prefix: str = Field(
        default="conveyor", description="Namespace prefix of every Redis key Conveyor writes."
    )
    queues: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("default",),
        description="Comma-separated queue names that workers and the scheduler serve.",
    )

    @field_validator("redis_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            msg = "must start with redis://, rediss:// or unix://"
            raise ValueError(msg)
        return value

    @field_validator("key_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not PREFIX_NAME.match(value):
            msg = "use 1-32 letters, digits, '_', '.', '-' (no braces or colons)"
            raise ValueError(msg)
        return value

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("queues")
    @classmethod
    def _check_queues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            msg = "name at least one queue"
            raise ValueError(msg)
        bad = [name for name in value if not QUEUE_NAME.match(name)]
        if bad:
            msg = f"invalid queue name {bad[0]!r}: use 1-64 letters, digits, '_', '.', '-'"
            raise ValueError(msg)
        if len(set(value)) != len(value):
            msg = "a queue is named twice"
            raise ValueError(msg)
        return value


class LogSettings(BaseSettings):
    """How every service logs."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_LOG_", extra="ignore", frozen=True)

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest log level written."
    )
    format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console renderer on a TTY, JSON otherwise."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build ``cls`` from the environment; any problem becomes one clear line.

    Raises ConfigurationError naming the environment variable and what is wrong,
    e.g. ``CONVEYOR_WORKER_CONCURRENCY: Input should be a valid integer (got 'many')``.
    """
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = [_describe(prefix, error) for error in exc.errors()]
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from exc


def _describe(prefix: str, error: ErrorDetails) -> str:
    loc = error["loc"]
    field = str(loc[0]) if loc else "?"
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float) and len(repr(got)) < 80 else ""
    return f"{prefix}{field.upper()}: {message}{shown}"
