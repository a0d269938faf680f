"""Per-client rate limit (GCRA in Redis) and load shedding by queue backlog."""

from __future__ import annotations

import asyncio
import math
import time

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.keys import Keys
from conveyor.limits import LimitsDocument, LimitsVersion
from conveyor.lua import register
from conveyor.rates import Rate
from conveyor.streams import Group, find_group
from conveyor_ingest.coalesce import TickBatcher
from conveyor_ingest.responses import ApiError
from conveyor_ingest.writer import ScriptWriter

BACKLOG_SAMPLE_S = 0.5
LEASE_S = 0.05
MAX_LEASES = 10_000
MAX_LEASE = 1000


class RateLimiter:
    """GCRA: ``rate`` requests/s with ``burst`` allowed at once, atomic in Redis.

    Checks of one client made during one event-loop tick share one script call
    (with a count), and each call also reserves a small lease (LEASE_S worth of the
    client's rate, at most its burst) that later checks in this process spend
    without a round trip. Unspent lease tokens lapse after LEASE_S: a client never
    gets more than its rate, at worst slightly less when it is spread over
    several ingest processes.
    """

    def __init__(
        self, client: Redis, writer: ScriptWriter, keys: Keys, rate: float, burst: int
    ) -> None:
        self._writer = writer
        self._keys = keys
        self._default = Rate(rate, burst)
        self._document = LimitsDocument()  # run-time limits by tier and subject
        self._script = register(client, "ingest_rate")
        self._checks: TickBatcher[tuple[str, str], None, int] = TickBatcher(self._decide)
        self._leases: dict[str, tuple[float, int]] = {}

    def apply(self, version: LimitsVersion) -> None:
        """Use a new run-time limits document (conveyor.limits.LimitsWatcher calls this)."""
        self._document = version.document
        self._leases.clear()  # a lowered rate holds from now, not after the leases

    def rate_of(self, subject: str, tier: str = "") -> Rate:
        """The limit of a client: its subject's, else its tier's, else the settings'."""
        document = self._document
        if not (document.subjects or document.tiers):
            return self._default
        return document.client_rate(subject, tier, self._default)

    async def check(self, subject: str, tier: str = "") -> None:
        """Raise a 429 with Retry-After when ``subject`` is over its rate."""
        lease = self._leases.get(subject)
        if lease is not None and lease[1] > 0 and lease[0] > time.monotonic():
            self._leases[subject] = (lease[0], lease[1] - 1)
            return
        wait_us = await self._checks.submit((subject, tier), None)
        if wait_us > 0:
            retry = max(1, math.ceil(wait_us / 1_000_000))
            raise ApiError(429, "rate limit exceeded", headers={"Retry-After": str(retry)})

    async def _decide(self, client: tuple[str, str], checks: list[None]) -> list[int]:
        subject, tier = client
        rate = self.rate_of(subject, tier)
        now_us = time.time_ns() // 1000
        # Reserve what the effective (microsecond-granular) rate yields in LEASE_S.
        per_lease = math.ceil(LEASE_S * 1_000_000 / rate.interval_us)
        lease_size = max(0, min(rate.burst, per_lease, MAX_LEASE) - 1)
        wanted = len(checks) + lease_size
        args = [now_us, rate.interval_us, rate.tolerance_us, wanted]
        reply = await self._writer.call(self._script, [self._keys.rate_limit(subject)], args)
        allowed, wait_us = int(reply[0]), int(reply[1])
        if allowed > len(checks):
            self._leases[subject] = (time.monotonic() + LEASE_S, allowed - len(checks))
        if len(self._leases) > MAX_LEASES:
            self._leases.clear()  # bounded memory with many clients
        return [0 if index < allowed else max(wait_us, 1) for index in range(len(checks))]


class BacklogGuard:
    """Sheds new tasks (503) when a queue's backlog exceeds ``max_backlog``.

    The backlog is the workers group's lag on the task stream (entries not yet
    delivered), or the stream length before the group exists; it is sampled at
    most every BACKLOG_SAMPLE_S per queue so the check costs no round trip per request.
    """

    def __init__(self, client: Redis, keys: Keys, max_backlog: int) -> None:
        self._client = client
        self._keys = keys
        self._max = max_backlog
        self._samples: dict[str, tuple[float, int]] = {}
        self._measuring: dict[str, asyncio.Task[int]] = {}

    def _fresh(self, queue: str) -> int | None:
        """The queue's backlog sampled less than BACKLOG_SAMPLE_S ago, else None."""
        sampled = self._samples.get(queue)
        if sampled is not None and time.monotonic() - sampled[0] < BACKLOG_SAMPLE_S:
            return sampled[1]
        return None

    async def backlog(self, queue: str) -> int:
        """The queue's (recently sampled) backlog."""
        fresh = self._fresh(queue)
        if fresh is not None:
            return fresh
        # One measurement in flight per queue: a burst of requests must not each ask Redis.
        task = self._measuring.get(queue)
        if task is None:
            task = asyncio.create_task(self._measure(queue))
            self._measuring[queue] = task
            task.add_done_callback(lambda _: self._measuring.pop(queue, None))
        value = await asyncio.shield(task)
        self._samples[queue] = (time.monotonic(), value)
        return value

    async def _measure(self, queue: str) -> int:
        # A queue's backlog is the sum over its partitions and their priority levels.
        streams = [stream for qk in self._keys.shards(queue) for stream in qk.level_streams]
        return sum([await self._measure_stream(stream) for stream in streams])

    async def _measure_stream(self, stream: str) -> int:
        try:
            groups = await self._client.xinfo_groups(stream)
        except redis_errors.ResponseError:
            return 0  # no stream yet: nothing waits
        workers = find_group(groups, Group.WORKERS.value)
        if workers is not None and workers.get("lag") is not None:
            return int(workers["lag"])
        return int(await self._client.xlen(stream))

    async def check(self, queue: str, adding: int = 1) -> None:
        """Raise a 503 with Retry-After when ``queue`` is over its backlog limit."""
        backlog = self._fresh(queue)  # the common case, without awaiting backlog()
        if backlog is None:
            backlog = await self.backlog(queue)
        if backlog + adding > self._max:
            raise ApiError(
                503, f"queue {queue!r} is overloaded; retry later", headers={"Retry-After": "5"}
            )
