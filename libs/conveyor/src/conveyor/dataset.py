"""Dataset identity: tell a Redis that lost or replaced its data from a blip.

Each service keeps an identity key of its own (``Keys.dataset_identity``): a random
id written once (SET NX) by the first process of that service. Every process
remembers the id it found and checks it on every new connection (redis-py's
connect hook, before the connection carries any command) and before a consumer
group is created again. A missing key, or another id, means the data this
process worked with is gone (Redis restarted without persistence, a failover to
an empty replica, a FLUSHALL): groups would be recreated quietly, accepted tasks
and effect marks would be missing, and Idempotency-Keys would be reused against
an empty store.

Then the process logs ``redis_dataset_reset`` (error), counts it in
``conveyor_redis_dataset_resets_total`` and, with the default policy ``stop``,
replaces the key by a reset mark (so every replica, and any process started
later, stops too) and refuses to work: every new connection fails with
``DatasetResetError`` (a transient error: loops pause, ingest answers 503, the
scheduler fires nothing, ``/readyz`` says why) until an operator acknowledges
with ``python -m conveyor.dataset acknowledge``, which writes new ids. With the
policy ``continue`` the process writes a new id itself and carries on.

A process that starts on an empty Redis cannot tell a first deployment from a lost
dataset; it takes the dataset as it finds it. On Redis Cluster the identity lives
in the slot of ``{_dataset}``, which a connection to another node cannot read: there
the check is not installed (``create_client`` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis

from conveyor.errors import DatasetResetError as DatasetResetError  # raised here
from conveyor.keys import SERVICES, Keys

log = structlog.get_logger(__name__)

RESET_MARK = "reset:"
ResetPolicy = Literal["stop", "continue"]


@dataclass
class DatasetGuard:
    """One process's memory of its service's dataset identity, and its reset state."""

    key: str
    policy: ResetPolicy = "stop"
    registry: CollectorRegistry | None = None
    identity: str | None = field(default=None, init=False)
    reset_since_ms: int | None = field(default=None, init=False)
    resets: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._counter = Counter(
            "conveyor_redis_dataset_resets",
            "Times this process found its Redis dataset lost or replaced.",
            registry=self.registry,
        )

    @property
    def stopped(self) -> bool:
        """Whether a reset waits for an operator's acknowledgement."""
        return self.reset_since_ms is not None

    def problem(self) -> str | None:
        """The readiness problem while stopped, else None."""
        if self.reset_since_ms is None:
            return None
        return (
            f"the Redis dataset was lost or replaced (reset mark on {self.key}); "
            "acknowledge with: python -m conveyor.dataset acknowledge"
        )

    def problems(self) -> list[str]:
        """``problem()`` as a list (a readiness check's part)."""
        problem = self.problem()
        return [] if problem is None else [problem]

    def state(self) -> dict[str, Any]:
        """What /api/v1/queues shows: resets seen by this process, and whether it stopped."""
        return {"resets": self.resets, "stopped": self.stopped, "since_ms": self.reset_since_ms}

    async def on_connect(self, connection: Any) -> None:
        """redis-py's ``redis_connect_func``: the handshake, then the identity check."""
        await connection.on_connect()
        await connection.send_command("GET", self.key)
        found = await connection.read_response()

        async def write(*args: Any) -> Any:
            await connection.send_command(*args)
            return await connection.read_response()

        await self._judge(found, write)

    async def verify(self, client: Redis) -> None:
        """Check the identity with ``client`` (before a consumer group is created again)."""
        await self._judge(await client.get(self.key), client.execute_command)

    async def _judge(self, found: bytes | str | None, write: Any) -> None:
        value = None if found is None else _text(found)
        if value is not None and not value.startswith(RESET_MARK):
            if self.identity is None or value == self.identity:
                self.identity = value
                return
            if self.stopped:  # an operator wrote a new id: the reset is acknowledged
                log.warning("redis_dataset_reset_acknowledged", key=self.key)
                self.identity, self.reset_since_ms = value, None
                return
        if value is None and self.identity is None:  # first start: write the id once
            await write("SET", self.key, _new_id(), "NX")
            await self._judge(await write("GET", self.key), write)
            return
        await self._reset(value, write)

    async def _reset(self, found: str | None, write: Any) -> None:
        if not self.stopped:
            self.resets += 1
            self._counter.inc()
            log.error(
                "redis_dataset_reset",
                key=self.key,
                remembered=self.identity,
                found=found,
                policy=self.policy,
                hint="Redis lost or replaced its data; accepted tasks and effect marks may be gone",
            )
            if self.policy == "continue":
                self.identity = _new_id()
                await write("SET", self.key, self.identity)
                return
            self.reset_since_ms = int(time.time() * 1000)
        if found is None or not found.startswith(RESET_MARK):  # every process must see it
            await write("SET", self.key, f"{RESET_MARK}{self.reset_since_ms}:{self.identity}")
        raise DatasetResetError(self.problem())


def guard_of(client: Redis) -> DatasetGuard | None:
    """The guard ``create_client`` installed on ``client``'s connections, if any."""
    pool = getattr(client, "connection_pool", None)
    hook = getattr(pool, "connection_kwargs", {}).get("redis_connect_func")
    owner = getattr(hook, "__self__", None)
    return owner if isinstance(owner, DatasetGuard) else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _new_id() -> str:
    return secrets.token_hex(8)


async def acknowledge(client: Redis, keys: Keys) -> list[str]:
    """Replace every service's reset mark by a new identity; the keys acknowledged."""
    done = []
    for service in SERVICES:
        key = keys.dataset_identity(service)
        value = await client.get(key)
        if value is not None and _text(value).startswith(RESET_MARK):
            await client.set(key, _new_id())
            done.append(key)
    return done


async def _main(argv: list[str]) -> int:
    from conveyor.connection import create_client
    from conveyor.settings import RedisSettings, load_settings

    parser = argparse.ArgumentParser(prog="python -m conveyor.dataset")
    parser.add_argument("command", choices=["acknowledge"], help="acknowledge a dataset reset")
    parser.parse_args(argv)
    settings = load_settings(RedisSettings)
    client = create_client(settings)
    try:
        keys = Keys(settings.key_prefix, settings.queues, settings.queue_partitions)
        done = await acknowledge(client, keys)
    finally:
        await client.aclose()
    print(f"acknowledged: {', '.join(done)}" if done else "no dataset reset to acknowledge")  # noqa: T201 - a command's answer
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
