"""Per-minute history of every queue: what the dashboard charts over the last hour.

Counters: the read model counts each queue partition's outcomes (``QueueKeys.counters``:
succeeded, retried, dead, cancelled) in the step that acknowledges the event, once per
event. ``enqueued`` is the task stream's ``entries-added`` (XINFO STREAM): every entry
that entered the queue to run (new tasks, delayed ones come due, retries, replays).

Sampling: one ingest process at a time holds a lease (``Keys.history_lease``) and every
``interval`` seconds stores each queue's cumulative figures, plus its backlog (entries
not yet delivered + delivered and not acknowledged) and dead letters, as the sample of
the current minute; one script judges the lease and writes every queue's sample, so a
process that lost the lease writes nothing. Each series keeps the last ~hour of minutes.
Any replica answers GET /api/v1/queues/{queue}/history from Redis: a minute's counts
are its sample minus the previous minute's (a counter that went down, e.g. a Redis that
restarted empty, counts from zero).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor import jsoncodec
from conveyor.grouploop import run_guarded, stopped_within
from conveyor.keys import Keys
from conveyor.lua import register
from conveyor_ingest.figures import queue_stats
from conveyor_ingest.store import now_ms

log = structlog.get_logger(__name__)

MINUTE_MS = 60_000
WINDOW_MINUTES = 60
KEPT_MINUTES = WINDOW_MINUTES + 2  # the window plus the minute before its first
COUNTED = ("succeeded", "retried", "dead", "cancelled")
CUMULATIVE = ("enqueued", *COUNTED)


@dataclass(frozen=True, slots=True)
class Sample:
    """A queue's figures at one instant (``at_ms``); the counts are cumulative."""

    at_ms: int
    enqueued: int
    succeeded: int
    retried: int
    dead: int
    cancelled: int
    backlog: int
    dead_letters: int

    def to_json(self) -> str:
        """The stored text (JSON object by field name)."""
        return jsoncodec.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Sample:
        """Decode a stored sample; raises ValueError, KeyError or TypeError when malformed."""
        fields = jsoncodec.loads(text)
        return cls(**{name: int(fields[name]) for name in cls.__dataclass_fields__})


async def take_sample(client: Redis, keys: Keys, queue: str, at_ms: int) -> Sample:
    """``queue``'s figures now, summed over its partitions."""
    totals = dict.fromkeys((*CUMULATIVE, "backlog", "dead_letters"), 0)
    for qk in keys.shards(queue):
        counters: dict[Any, Any] = await client.hgetall(qk.counters)
        for name in COUNTED:
            totals[name] += int(counters.get(name.encode(), 0))
        totals["enqueued"] += await _entries_added(client, qk.tasks)
        stats = await queue_stats(client, qk)
        undelivered = stats["lag"] if stats["lag"] is not None else stats["depth"]
        totals["backlog"] += undelivered + stats["pending"]
        totals["dead_letters"] += stats["dead_letters"]
    return Sample(at_ms=at_ms, **totals)


async def _entries_added(client: Redis, stream: str) -> int:
    try:
        info: dict[str, Any] = await client.xinfo_stream(stream)
    except redis_errors.ResponseError:
        return 0  # the stream does not exist yet
    return int(info.get("entries-added", info.get("length", 0)))


def sampler_name() -> str:
    """This process's name as a lease holder."""
    return f"ingest-{socket.gethostname()}-{os.getpid()}"


class HistorySampler:
    """Samples every queue into its series while this process holds the history lease."""

    def __init__(
        self,
        client: Redis,
        keys: Keys,
        interval_s: float,
        *,
        name: str | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._client = client
        self._keys = keys
        self.interval_s = interval_s
        self.name = name or sampler_name()
        self._clock = clock
        self._lease_ms = max(int(interval_s * 3000), 1000)
        self._write = register(client, "ingest_history")

    async def sample_once(self) -> bool:
        """Take or renew the lease and, holding it, store a sample of every queue.

        Returns whether this process holds the lease (and wrote).
        """
        if not await self._store([], self._clock()):
            return False
        at = self._clock()
        samples = [await take_sample(self._client, self._keys, q, at) for q in self._keys.queues]
        return await self._store(samples, at)

    async def _store(self, samples: list[Sample], at_ms: int) -> bool:
        minute = at_ms // MINUTE_MS * MINUTE_MS
        keys = [self._keys.history_lease]
        keys += [self._keys.history(queue) for queue in self._keys.queues] if samples else []
        args: list[Any] = [
            self.name, self._lease_ms, minute, minute - (KEPT_MINUTES - 1) * MINUTE_MS,
            2 * KEPT_MINUTES * MINUTE_MS, *(sample.to_json() for sample in samples),
        ]  # fmt: skip
        return bool(await self._write(keys=keys, args=args))

    async def run(self, stop: asyncio.Event) -> None:
        """Sample every ``interval_s`` until ``stop`` (failures logged, then retried)."""

        async def step() -> None:
            await self.sample_once()
            await stopped_within(stop, self.interval_s)

        await run_guarded(stop, "history_sample_failed", step)


@dataclass(frozen=True, slots=True)
class Minute:
    """One minute of a queue's history: counts in it (None: not sampled) and its last levels."""

    minute_ms: int
    counts: dict[str, int] | None
    backlog: int | None
    dead_letters: int | None


async def read_history(client: Redis, keys: Keys, queue: str, at_ms: int) -> list[Minute]:
    """The last ``WINDOW_MINUTES`` minutes of ``queue`` up to the one holding ``at_ms``."""
    current = at_ms // MINUTE_MS * MINUTE_MS
    first = current - (WINDOW_MINUTES - 1) * MINUTE_MS
    stored: list[Any] = await client.zrangebyscore(
        keys.history(queue), first - MINUTE_MS, current, withscores=True
    )
    samples: dict[int, Sample] = {}
    for text, score in stored:
        try:
            samples[int(score)] = Sample.from_json(text)
        except (ValueError, KeyError, TypeError):
            log.warning("history_sample_unreadable", queue=queue, minute_ms=int(score))
    return [_minute(m, samples) for m in range(first, current + MINUTE_MS, MINUTE_MS)]


def _minute(minute_ms: int, samples: dict[int, Sample]) -> Minute:
    sample = samples.get(minute_ms)
    if sample is None:
        return Minute(minute_ms, None, None, None)
    before = samples.get(minute_ms - MINUTE_MS)
    counts = None
    if before is not None:
        counts = {name: _delta(getattr(sample, name), getattr(before, name)) for name in CUMULATIVE}
    return Minute(minute_ms, counts, sample.backlog, sample.dead_letters)


def _delta(now: int, before: int) -> int:
    return now - before if now >= before else now  # a counter that restarted from zero
