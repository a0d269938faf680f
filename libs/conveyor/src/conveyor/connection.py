"""Redis clients: creation from settings and the server checks done at connect.

``create_client`` is the one way services get a client (``create_blocking_client`` the
blocking client's): a plain client for a
single server, a Sentinel-managed client that follows the primary through
failovers, or a Redis Cluster client. TLS files apply to all three.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import redis
import redis.cluster
import redis.sentinel
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff

from conveyor.errors import DatasetResetError, RedisUnavailableError, UnsupportedServerError
from conveyor.settings import RedisSettings

if TYPE_CHECKING:  # the guard needs structlog and prometheus: services only, not producers
    from conveyor.dataset import DatasetGuard

# Errors after which the same command can succeed later, so services retry (or answer 503)
# instead of failing: the server is unreachable or still loading (BusyLoadingError is a
# ConnectionError), read-only during a Sentinel failover, or the cluster is electing a new
# primary for the slot (CLUSTERDOWN, MASTERDOWN, TRYAGAIN, a slot map with a hole).
# A dataset reset (conveyor.dataset) is transient too: work resumes once acknowledged.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    DatasetResetError,
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.ClusterError,
    redis_errors.TryAgainError,
    redis_errors.SlotNotCoveredError,
)

# Every command has a bound, so a paused or unreachable server turns into an error the
# services handle (503, retry, readiness) instead of an unbounded wait.
COMMAND_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0

MIN_VERSION = (7, 0, 0)
WAITAOF_VERSION = (7, 2, 0)


def _log() -> Any:
    """The module's logger; structlog is imported on the first warning only, so the
    blocking client of a producer (who installs no service extras) does not need it."""
    import structlog  # here, not at the top: see the docstring

    return structlog.get_logger(__name__)


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

    @property
    def has_waitaof(self) -> bool:
        """WAITAOF exists on Redis >= 7.2 and on every Valkey."""
        return self.server == "valkey" or self.version >= WAITAOF_VERSION


def create_client(
    settings: RedisSettings, dataset: DatasetGuard | None = None, **options: Any
) -> Redis:
    """An asyncio client for ``settings`` (bytes replies, no decoding).

    With ``redis_sentinels`` set it is a Sentinel-managed client of the primary
    ``redis_sentinel_service`` (it asks the Sentinels again after a failover); with
    ``redis_cluster`` it is a ``RedisCluster``, typed as ``Redis`` because it
    offers the same command methods and the services use only those. Commands time
    out after ``COMMAND_TIMEOUT_S`` (connecting after ``CONNECT_TIMEOUT_S``) unless
    ``options`` say otherwise. With ``dataset``, every new connection checks the
    dataset identity before it carries a command (not on Cluster: see conveyor.dataset).
    """
    options.setdefault("health_check_interval", 30)
    options.setdefault("socket_timeout", COMMAND_TIMEOUT_S)
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_S)
    options.setdefault("socket_keepalive", True)
    options.update(_tls_options(settings))
    if dataset is not None and not settings.redis_cluster:
        options["redis_connect_func"] = dataset.on_connect
    if settings.redis_sentinels:
        return _sentinel_client(settings, options)
    if settings.redis_cluster:
        accepted = inspect.signature(RedisCluster.__init__).parameters
        # Pool-level options of the plain client (retry_on_timeout, ...) do not exist here.
        cluster_options = {k: v for k, v in options.items() if k in accepted}
        return cast(Redis, RedisCluster.from_url(settings.redis_url, **cluster_options))
    return Redis.from_url(settings.redis_url, **options)


def create_blocking_client(settings: RedisSettings, **options: Any) -> redis.Redis:
    """A blocking client for ``settings``, the same three ways as ``create_client``.

    For the blocking ``conveyor.Client`` (applications that do not run asyncio).
    """
    options.update(_tls_options(settings))
    if settings.redis_sentinels:
        url: dict[str, Any] = dict(parse_url(settings.redis_url))
        for name in ("host", "port", "connection_class", "path"):
            url.pop(name, None)
        tls = settings.redis_url.startswith("rediss://")
        sentinel_options: dict[str, Any] = {"socket_connect_timeout": 2.0, "ssl": tls}
        if tls:
            sentinel_options.update(_tls_options(settings))
        if settings.redis_sentinel_password is not None:
            sentinel_options["password"] = settings.redis_sentinel_password.get_secret_value()
        sentinel = redis.sentinel.Sentinel(
            settings.sentinel_addresses(), sentinel_kwargs=sentinel_options
        )
        master: redis.Redis = sentinel.master_for(
            settings.redis_sentinel_service, ssl=tls, **url, **options
        )
        return master
    if settings.redis_cluster:
        return cast(redis.Redis, redis.cluster.RedisCluster.from_url(settings.redis_url, **options))
    return redis.Redis.from_url(settings.redis_url, **options)


def is_cluster(client: Redis) -> bool:
    """Whether ``client`` talks to a Redis Cluster (commands must keep to one slot each)."""
    return isinstance(client, RedisCluster)


def _tls_options(settings: RedisSettings) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.redis_tls_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.redis_tls_ca_file)
    if settings.redis_tls_cert_file is not None and settings.redis_tls_key_file is not None:
        options["ssl_certfile"] = str(settings.redis_tls_cert_file)
        options["ssl_keyfile"] = str(settings.redis_tls_key_file)
    return options


def _sentinel_client(settings: RedisSettings, options: dict[str, Any]) -> Redis:
    """The primary's client: the URL gives user, password, db and TLS, the Sentinels the host."""
    url: dict[str, Any] = dict(parse_url(settings.redis_url))
    for name in ("host", "port", "connection_class", "path"):
        url.pop(name, None)
    tls = settings.redis_url.startswith("rediss://")
    sentinel_options: dict[str, Any] = {
        "socket_connect_timeout": 2.0,
        "ssl": tls,
        # The other Sentinels are the retry: one more try (a pooled connection may be
        # stale), not redis-py's ten with backoff per Sentinel per discovery, which made
        # a Sentinel refusing the handshake look like a hang (~12 s).
        "retry": Retry(NoBackoff(), 1),
    }
    if tls:
        sentinel_options.update(_tls_options(settings))
    if settings.redis_sentinel_password is not None:
        sentinel_options["password"] = settings.redis_sentinel_password.get_secret_value()
    sentinel = _Sentinels(settings.sentinel_addresses(), sentinel_kwargs=sentinel_options)
    client: SentinelManagedRedis = sentinel.master_for(
        settings.redis_sentinel_service,
        redis_class=SentinelManagedRedis,
        ssl=tls,
        **url,
        **options,
    )
    client.sentinel_manager = sentinel
    return client


class _Sentinels(Sentinel):
    """redis-py's Sentinel manager, whose "no primary" error says why each Sentinel failed.

    redis-py lists the failures with ``repr``, which for its errors is only the class
    name (``network:ConnectionError``): an untrusted certificate, a refused connection
    and a wrong password all read the same.
    """

    def __init__(self, sentinels: list[tuple[str, int]], sentinel_kwargs: dict[str, Any]) -> None:
        # Named rather than super(): mypy's untyped-call exclusion for redis goes by name.
        Sentinel.__init__(self, sentinels, sentinel_kwargs=sentinel_kwargs)

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        """The primary's (ip, port) from the first Sentinel that knows a healthy one."""
        reasons: list[str] = []
        for index, sentinel in enumerate(self.sentinels):
            kwargs = sentinel.connection_pool.connection_kwargs
            address = f"{kwargs.get('host')}:{kwargs.get('port')}"
            try:
                masters = cast(dict[str, dict[str, Any]], await sentinel.sentinel_masters())
            except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
                reasons.append(f"{address}: {exc}")
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):
                # Ask the Sentinel that answered first next time (what redis-py does).
                self.sentinels[0], self.sentinels[index] = sentinel, self.sentinels[0]
                return state["ip"], state["port"]
            reasons.append(f"{address}: knows no healthy primary {service_name!r}")
        msg = f"no Sentinel gave the address of primary {service_name!r}: {'; '.join(reasons)}"
        raise MasterNotFoundError(msg)


class SentinelManagedRedis(Redis):
    """The primary's client; closing it also closes its connections to the Sentinels."""

    sentinel_manager: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the client and (redis-py leaves them open) the Sentinel clients."""
        await super().aclose(close_connection_pool)
        if self.sentinel_manager is not None:
            await self.sentinel_manager.aclose()


class ReplicasBehindError(RedisUnavailableError, redis_errors.TimeoutError):
    """Fewer replicas than required acknowledged a write within the wait timeout.

    The write itself happened on the primary; the caller should answer "retry
    later" (a retry with the same Idempotency-Key finds the stored result). It is
    also a redis-py TimeoutError, so code that maps Redis outages to 503 does so here.
    """


@dataclass(slots=True)
class ReplicaWait:
    """WAIT (and WAITAOF) appended to a pipeline of writes, and the check of their replies.

    WAIT counts the replicas that received everything written *on the same
    connection*, so it must travel in the pipeline that carried the writes.
    ``aof`` asks for the primary's own AOF fsync too (WAITAOF 1 0), sent only while
    the server is not known to lack it: Redis 7.0 answers "unknown command", after
    which it is dropped with one warning (feature detection without a round trip).
    """

    replicas: int
    timeout_ms: int
    aof: bool = False
    _aof_supported: bool | None = field(default=None, init=False)

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> ReplicaWait | None:
        """The wait the settings ask for; None when they ask for none."""
        if settings.redis_wait_replicas == 0 and not settings.redis_wait_aof:
            return None
        return cls(
            settings.redis_wait_replicas, settings.redis_wait_timeout_ms, settings.redis_wait_aof
        )

    def append(self, pipe: Any) -> int:
        """Queue the wait commands on ``pipe`` (after the writes); returns how many."""
        count = 0
        if self.replicas:
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            count += 1
        if self.aof and self._aof_supported is not False:
            pipe.execute_command("WAITAOF", 1, 0, self.timeout_ms)
            count += 1
        return count

    def check(self, replies: list[Any]) -> None:
        """Check the wait replies (the last ones of the pipeline); raise when short."""
        replies = list(replies)
        if self.replicas:
            acked = replies.pop(0)
            if isinstance(acked, Exception) or int(acked) < self.replicas:
                msg = (
                    f"{acked} of {self.replicas} replicas acknowledged within {self.timeout_ms} ms"
                )
                raise ReplicasBehindError(msg)
        if replies:
            self._check_aof(replies[0])

    def _check_aof(self, reply: Any) -> None:
        if isinstance(reply, redis_errors.ResponseError):
            # Redis 7.0: unknown command; appendonly off: WAITAOF refuses numlocal 1.
            self._aof_supported = False
            _log().warning("waitaof_unavailable", error=str(reply)[:200])
            return
        if isinstance(reply, Exception):
            raise reply
        self._aof_supported = True
        if int(reply[0]) < 1:
            msg = f"the primary did not fsync its AOF within {self.timeout_ms} ms"
            raise ReplicasBehindError(msg)


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
        _log().warning(
            "maxmemory_policy_unknown",
            hint="this user may not run CONFIG GET; make sure maxmemory-policy is noeviction",
        )
    elif info.maxmemory_policy != "noeviction":
        _log().warning(
            "maxmemory_policy_evicts",
            policy=info.maxmemory_policy,
            danger="EVICTION SILENTLY DROPS TASKS AND EFFECT MARKS",
            fix="set maxmemory-policy noeviction",
        )
