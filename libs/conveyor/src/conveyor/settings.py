"""Settings shared by every service, and the one way to load any settings class.

Each service defines its own class (``CONVEYOR_INGEST_``, ``CONVEYOR_WORKER_``,
``CONVEYOR_SCHEDULER_`` prefixes) in its ``settings.py``; this module holds what
they share. Settings are built once in ``__main__`` and passed down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from conveyor.errors import ConfigurationError
from conveyor.keys import MAX_PARTITIONS as MAX_PARTITIONS  # re-exported: its old home
from conveyor.keys import QUEUE_NAME as QUEUE_NAME

PREFIX_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9_.:-]+):(?P<port>[0-9]{1,5})$")

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
    queue_partitions: Annotated[tuple[tuple[str, int], ...], NoDecode] = Field(
        default=(),
        description="Partitions per queue, e.g. orders=4,clicks=8 (default 1); same everywhere.",
    )

    redis_tls_ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) that signs the server's certificate (rediss://)."
    )
    redis_tls_cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) for servers that require one."
    )
    redis_tls_key_file: Path | None = Field(
        default=None, description="Private key (PEM) of the client certificate."
    )
    redis_sentinels: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated Sentinel host:port list; when set, the URL's host is ignored.",
    )
    redis_sentinel_service: str = Field(
        default="mymaster", description="Name of the primary the Sentinels monitor."
    )
    redis_sentinel_password: SecretStr | None = Field(
        default=None, description="Password of the Sentinels themselves, if they require one."
    )
    redis_cluster: bool = Field(
        default=False, description="Connect to a Redis Cluster (the URL names any one node)."
    )
    redis_wait_replicas: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Replicas that must acknowledge a task write before ingest answers 202.",
    )
    redis_wait_timeout_ms: int = Field(
        default=500,
        ge=1,
        le=4000,  # below redis-py's 5 s socket timeout, or the wait ends as a read timeout
        description="Longest wait for those replicas, in milliseconds (at most 4000).",
    )
    redis_dataset_reset: Literal["stop", "continue"] = Field(
        default="stop",
        description=(
            "On finding the Redis dataset lost or replaced: stop consuming, firing and"
            " accepting until `python -m conveyor.dataset acknowledge`, or continue."
        ),
    )
    redis_wait_aof: bool = Field(
        default=False,
        description="Also wait for the AOF fsync (WAITAOF) where the server supports it.",
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

    @field_validator("queue_partitions", mode="before")
    @classmethod
    def _split_partitions(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, count = item.partition("=")
            if not sep or not count.strip().isdigit():
                msg = f"expected <queue>=<partitions>, got {item!r}"
                raise ValueError(msg)
            pairs.append((name.strip(), int(count)))
        return tuple(pairs)

    @field_validator("queue_partitions")
    @classmethod
    def _check_partitions(cls, value: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
        names = [name for name, _ in value]
        if len(set(names)) != len(names):
            msg = "a queue is given partitions twice"
            raise ValueError(msg)
        for name, count in value:
            if not 1 <= count <= MAX_PARTITIONS:
                msg = f"queue {name!r}: partitions must be 1-{MAX_PARTITIONS}, got {count}"
                raise ValueError(msg)
        return value

    @field_validator("redis_tls_ca_file", "redis_tls_cert_file", "redis_tls_key_file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            msg = f"no such file: {value}"
            raise ValueError(msg)
        return value

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _split_sentinels(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _check_sentinels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            match = HOST_PORT.match(item)
            if not match or not 0 < int(match["port"]) < 65536:
                msg = f"expected host:port, got {item!r}"
                raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _check_partitioned_queues(self) -> Self:
        unknown = [name for name, _ in self.queue_partitions if name not in self.queues]
        if unknown:
            msg = f"CONVEYOR_QUEUE_PARTITIONS names {unknown[0]!r}, which is not in CONVEYOR_QUEUES"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if self.redis_sentinels and self.redis_cluster:
            msg = "CONVEYOR_REDIS_SENTINELS and CONVEYOR_REDIS_CLUSTER exclude each other"
            raise ValueError(msg)
        if self.redis_cluster and (self.redis_wait_replicas or self.redis_wait_aof):
            msg = "CONVEYOR_REDIS_WAIT_* is not supported with CONVEYOR_REDIS_CLUSTER"
            raise ValueError(msg)
        if (self.redis_tls_cert_file is None) != (self.redis_tls_key_file is None):
            msg = "set CONVEYOR_REDIS_TLS_CERT_FILE and CONVEYOR_REDIS_TLS_KEY_FILE together"
            raise ValueError(msg)
        tls_files = self.redis_tls_ca_file or self.redis_tls_cert_file
        if tls_files and not self.redis_url.startswith("rediss://"):
            msg = "TLS files are set but CONVEYOR_REDIS_URL does not start with rediss://"
            raise ValueError(msg)
        return self

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels as ``(host, port)`` pairs."""
        pairs = []
        for item in self.redis_sentinels:
            host, _, port = item.rpartition(":")
            pairs.append((host, int(port)))
        return pairs


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
    message = error["msg"].removeprefix("Value error, ")
    if not loc:  # a rule across several variables: its message names them
        return message
    got = error.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float) and len(repr(got)) < 80 else ""
    return f"{prefix}{str(loc[0]).upper()}: {message}{shown}"
