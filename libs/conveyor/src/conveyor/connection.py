"""Redis clients: creation from settings and the server checks done at connect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.errors import RedisUnavailableError, UnsupportedServerError
from conveyor.settings import RedisSettings

MIN_VERSION = (7, 0, 0)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the server said about itself in its HELLO reply."""

    server: str
    version: tuple[int, ...]
    maxmemory_policy: str | None

    @property
    def version_text(self) -> str:
        """Dotted version, e.g. ``7.0.15``."""
        return ".".join(map(str, self.version))


def create_client(settings: RedisSettings, **options: Any) -> Redis:
    """A redis-py asyncio client for ``settings.redis_url`` (bytes replies, no decoding)."""
    options.setdefault("health_check_interval", 30)
    options.setdefault("socket_keepalive", True)
    return Redis.from_url(settings.redis_url, **options)


async def check_server(client: Redis) -> ServerInfo:
    """Refuse servers older than Redis 7.0; warn loudly when eviction is enabled.

    The version comes from HELLO, which every authenticated user may call
    (INFO needs more permissions than an ACL-restricted service user has).
    """
    try:
        reply = await client.execute_command("HELLO")
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
        msg = f"cannot reach Redis: {exc}"
        raise RedisUnavailableError(msg) from exc
    fields = _hello_fields(reply)
    server = fields.get("server", "redis")
    version = _parse_version(fields.get("version", "0"))
    if version < MIN_VERSION:
        msg = (
            f"{server} {'.'.join(map(str, version))} is too old: Conveyor needs Redis >= 7.0 "
            "(XAUTOCLAIM deleted ids, XINFO lag, ACL selectors)"
        )
        raise UnsupportedServerError(msg)
    policy = await _maxmemory_policy(client)
    info = ServerInfo(server=server, version=version, maxmemory_policy=policy)
    _warn_on_eviction(info)
    return info


def _hello_fields(reply: Any) -> dict[str, str]:
    if isinstance(reply, dict):
        pairs = list(reply.items())
    else:
        pairs = list(zip(reply[::2], reply[1::2], strict=True))
    return {_text(k): _text(v) for k, v in pairs if isinstance(v, bytes | str | int)}


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


async def _maxmemory_policy(client: Redis) -> str | None:
    try:
        reply = await client.config_get("maxmemory-policy")
    except redis_errors.ResponseError:
        return None  # CONFIG is not allowed to this (ACL-restricted) user.
    # redis-py decodes CONFIG GET replies to str whatever the client's decoding.
    return reply.get("maxmemory-policy")


def _warn_on_eviction(info: ServerInfo) -> None:
    if info.maxmemory_policy is None:
        log.warning(
            "maxmemory_policy_unknown",
            hint="this user may not run CONFIG GET; make sure maxmemory-policy is noeviction",
        )
    elif info.maxmemory_policy != "noeviction":
        log.warning(
            "maxmemory_policy_evicts",
            policy=info.maxmemory_policy,
            danger="EVICTION SILENTLY DROPS TASKS AND EFFECT MARKS",
            fix="set maxmemory-policy noeviction",
        )
