"""Queue statistics for Prometheus, sampled from Redis by one service (ingest).

A scrape must not wait on Redis, and Prometheus' collectors are synchronous,
so a background loop samples every ``interval`` seconds and sets gauges; a
scrape reads the last sample. A partitioned queue's gauges are the sums over its
partitions (the oldest pending: the longest idle); GET /api/v1/queues shows each
partition. Per partition, one pipeline: XLEN of tasks, timers-in
and dead, XINFO GROUPS of tasks (lag, pending), the oldest pending entry of the
workers group (its idle time: the oldest delivery unless it was
redelivered since) and ZCARD of the timer index.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry, Gauge
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.keys import Keys, QueueKeys
from conveyor.pausing import paused_names
from conveyor.streams import Group, find_group

log = structlog.get_logger(__name__)


class QueueStatsSettings(BaseSettings):
    """How often the exporting service samples queue statistics."""

    model_config = SettingsConfigDict(
        env_prefix="CONVEYOR_QUEUE_STATS_", extra="ignore", frozen=True
    )

    interval: float = Field(
        default=10.0, gt=0, description="Seconds between samples of the queue gauges."
    )


class QueueStats:
    """Gauges of every queue's streams, refreshed by ``run``."""

    def __init__(self, client: Redis, keys: Keys, registry: CollectorRegistry) -> None:
        self._client = client
        self._keys = keys
        labels = ["queue", "stream"]
        self.length = Gauge(
            "conveyor_queue_stream_length",
            "Entries in the stream (tasks, timers_in, dead).",
            labels,
            registry=registry,
        )
        self.lag = Gauge(
            "conveyor_queue_group_lag",
            "Entries of the tasks stream not yet delivered to the workers group.",
            ["queue"],
            registry=registry,
        )
        self.pending = Gauge(
            "conveyor_queue_pending",
            "Tasks delivered to workers and not acknowledged.",
            ["queue"],
            registry=registry,
        )
        self.oldest_pending = Gauge(
            "conveyor_queue_oldest_pending_seconds",
            "Idle time of the oldest unacknowledged task delivery (0: none pending).",
            ["queue"],
            registry=registry,
        )
        self.dead = Gauge(
            "conveyor_queue_dead_letters", "Entries in the dead-letter stream.", ["queue"],
            registry=registry,
        )  # fmt: skip
        self.timers = Gauge(
            "conveyor_queue_timers", "Timers filed and not yet promoted.", ["queue"],
            registry=registry,
        )  # fmt: skip
        self.paused = Gauge(
            "conveyor_queue_paused", "1 while an operator has the queue paused.", ["queue"],
            registry=registry,
        )  # fmt: skip
        self.sampled = Gauge(
            "conveyor_queue_stats_sampled_timestamp_seconds",
            "Unix time of the last successful sample.",
            registry=registry,
        )

    async def sample(self) -> None:
        """Read every queue's figures and set the gauges (a partitioned queue's summed)."""
        totals: dict[str, _Figures] = {}
        for qk in self._keys.all_queues():
            figures = await self._read(qk)
            known = totals.get(qk.queue)
            totals[qk.queue] = figures if known is None else known.plus(figures)
        for queue, figures in totals.items():
            self._set(queue, figures)
        paused = await paused_names(self._client, self._keys)
        for queue in self._keys.queues:
            self.paused.labels(queue).set(1 if queue in paused else 0)
        self.sampled.set(time.time())

    async def _read(self, qk: QueueKeys) -> _Figures:
        """One partition's figures, its priority levels' task streams summed."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.xlen(qk.timers_in)
            pipe.xlen(qk.dead)
            pipe.zcard(qk.timer_index)
            for stream in qk.level_streams:
                pipe.xlen(stream)
                pipe.xinfo_groups(stream)
                pipe.xpending_range(stream, Group.WORKERS.value, "-", "+", 1)
            replies = await pipe.execute(raise_on_error=False)
        timers_in, dead, timers = replies[:3]
        levels = [_level_figures(*replies[at : at + 3]) for at in range(3, len(replies), 3)]
        figures = functools.reduce(_Figures.plus, levels)
        figures.timers_in, figures.dead = _count(timers_in), _count(dead)
        figures.timers = _count(timers)
        return figures

    def _set(self, queue: str, figures: _Figures) -> None:
        streams = (("tasks", figures.tasks), ("timers_in", figures.timers_in))
        for stream, value in (*streams, ("dead", figures.dead)):
            if value is not None:
                self.length.labels(queue, stream).set(value)
        if figures.dead is not None:
            self.dead.labels(queue).set(figures.dead)
        if figures.timers is not None:
            self.timers.labels(queue).set(figures.timers)
        if figures.lag is not None:
            self.lag.labels(queue).set(figures.lag)
        if figures.pending is not None:
            self.pending.labels(queue).set(figures.pending)
        self.oldest_pending.labels(queue).set(figures.oldest_idle_ms / 1000)

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Sample every ``interval`` s until ``stop``; Redis errors are logged, not fatal."""
        while not stop.is_set():
            try:
                await self.sample()
            except (redis_errors.RedisError, OSError) as exc:
                log.warning("queue_stats_sample_failed", error=str(exc))
            try:
                async with asyncio.timeout(interval):
                    await stop.wait()
            except TimeoutError:
                pass


@dataclass(slots=True)
class _Figures:
    """One partition's sample; None where Redis gave no figure (no stream or group yet)."""

    tasks: int | None
    timers_in: int | None
    dead: int | None
    timers: int | None
    lag: int | None = None
    pending: int | None = None
    oldest_idle_ms: int = 0

    def plus(self, other: _Figures) -> _Figures:
        """Two partitions of one queue as one: sums, and the longer oldest idle time."""
        return _Figures(
            _add(self.tasks, other.tasks),
            _add(self.timers_in, other.timers_in),
            _add(self.dead, other.dead),
            _add(self.timers, other.timers),
            _add(self.lag, other.lag),
            _add(self.pending, other.pending),
            max(self.oldest_idle_ms, other.oldest_idle_ms),
        )


def _level_figures(tasks: object, groups: object, oldest: object) -> _Figures:
    """One priority level's task stream (no stream yet: no figures)."""
    figures = _Figures(_count(tasks), None, None, None)
    workers = find_group(groups, Group.WORKERS.value)
    if workers is not None:
        # lag is None when Redis cannot tell (after deletions); count it as 0.
        figures.lag = int(workers.get("lag") or 0)
        figures.pending = int(workers.get("pending") or 0)
    # The lowest-id pending entry: the one waiting longest unless it was redelivered.
    if isinstance(oldest, list) and oldest:
        figures.oldest_idle_ms = int(oldest[0]["time_since_delivered"])
    return figures


def _count(reply: object) -> int | None:
    return reply if isinstance(reply, int) else None


def _add(left: int | None, right: int | None) -> int | None:
    if left is None or right is None:
        return right if left is None else left
    return left + right
