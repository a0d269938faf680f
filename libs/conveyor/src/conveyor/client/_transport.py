"""Choosing the transport from the URL, and what ``enqueue`` turns its arguments into."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from conveyor.client._views import TaskItem
from conveyor.errors import ConfigurationError

if TYPE_CHECKING:  # pydantic loads only with a declaration in use
    from conveyor.declarations import TaskDeclaration

HTTP_SCHEMES = ("http://", "https://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_QUEUE = "default"


class EnqueueOptions(TypedDict, total=False):
    """Keyword options of ``enqueue`` and ``enqueue_many``."""

    queue: str
    delay: float
    run_at: datetime
    partition_key: str
    max_attempts: int
    timeout: float
    idempotency_key: str
    priority: Literal["high", "normal", "low"]


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Where the client talks to and how (see ``Client``)."""

    url: str
    token: str | None
    timeout: float
    subject: str

    @property
    def is_http(self) -> bool:
        """Whether the URL names the ingest API (else Redis itself)."""
        return self.url.startswith(HTTP_SCHEMES)


def config(
    url: str | None,
    token: str | None,
    timeout: float,
    subject: str,
    settings: Any = None,
) -> ClientConfig:
    """The client's configuration: arguments first (the URL of ``settings`` when there is
    no ``url``), then CONVEYOR_URL / CONVEYOR_TOKEN."""
    url = url or getattr(settings, "redis_url", None) or os.environ.get("CONVEYOR_URL")
    if not url:
        msg = "give the client a URL (redis[s]://, unix://, http[s]://) or set CONVEYOR_URL"
        raise ConfigurationError(msg)
    if not url.startswith(HTTP_SCHEMES + REDIS_SCHEMES):
        msg = f"unsupported URL {url.split('://')[0]}://: use redis, rediss, unix, http or https"
        raise ConfigurationError(msg)
    token = token or os.environ.get("CONVEYOR_TOKEN") or None
    return ClientConfig(url, token, timeout, subject)


def items(
    task: TaskDeclaration[Any, Any] | str, payloads: list[Any], options: EnqueueOptions
) -> list[TaskItem]:
    """The tasks an enqueue asks for, with the declaration's defaults applied."""
    if not isinstance(task, str):
        name, queue = task.name, options.get("queue", task.queue)
        max_attempts = options.get("max_attempts", task.max_attempts)
        timeout = options.get("timeout", task.timeout)
        payloads = [task.dump_payload(payload) for payload in payloads]
    else:
        name, queue = task, options.get("queue", DEFAULT_QUEUE)
        max_attempts, timeout = options.get("max_attempts"), options.get("timeout")
    return [
        TaskItem(
            type=name,
            payload=payload,
            queue=queue,
            delay=options.get("delay"),
            run_at=options.get("run_at"),
            partition_key=options.get("partition_key"),
            priority=options.get("priority"),
            max_attempts=max_attempts,
            timeout=timeout,
        )
        for payload in payloads
    ]


def redis_settings(url: str, settings: Any) -> Any:
    """The RedisSettings of a direct client: ``settings`` as given (its URL replaced by
    ``url``), else the CONVEYOR_* environment the services read, with ``url``."""
    from conveyor.settings import RedisSettings

    if settings is None:
        return RedisSettings(redis_url=url)
    if not isinstance(settings, RedisSettings):
        msg = "settings must be a conveyor.settings.RedisSettings"
        raise ConfigurationError(msg)
    return settings.model_copy(update={"redis_url": url})


def direct_core(cfg: ClientConfig, settings: Any) -> Any:
    """The direct transport's plans for ``settings``' key layout, with ingest's default
    retention, idempotency TTL and longest delay."""
    from conveyor.client._direct import DirectCore
    from conveyor.keys import Keys
    from conveyor.producing.tasks import DAY_S, DEFAULT_MAX_DELAY
    from conveyor.producing.writes import TaskWrites

    keys = Keys(settings.key_prefix, settings.queues, settings.queue_partitions)
    writes = TaskWrites(keys, int(DAY_S * 1000), int(DAY_S * 1000))
    return DirectCore(keys, writes, cfg.subject, DEFAULT_MAX_DELAY)


def http_options(cfg: ClientConfig) -> dict[str, Any]:
    """httpx client options: base URL, bearer token, timeout, and TLS verification for
    https. An http:// client gets a bare TLS context it never uses: httpx's default one
    loads the system's CA certificates, most of the cost of creating a client."""
    verify: Any = True
    if not cfg.url.startswith("https://"):
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return {"base_url": cfg.url, "headers": bearer(cfg), "timeout": cfg.timeout, "verify": verify}


def bearer(cfg: ClientConfig) -> dict[str, str]:
    """The Authorization header of the HTTP transport (none without a token)."""
    return {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}


class TaskChanges(TypedDict, total=False):
    """Keyword arguments of ``change``: what to change (None removes an option)."""

    payload: Any
    delay: float | None
    run_at: datetime | None
    max_attempts: int | None
    timeout: float | None


def given_changes(changes: TaskChanges) -> dict[str, Any]:
    """The changes as plain values (a pydantic payload as its JSON value)."""
    given: dict[str, Any] = dict(changes)
    payload: Any = given.get("payload")
    if hasattr(payload, "model_dump"):
        given["payload"] = payload.model_dump(mode="json")
    return given
