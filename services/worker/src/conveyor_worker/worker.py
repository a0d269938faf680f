"""The Worker: one process's consumers for every configured queue, and their lifecycle.

A partitioned queue gets one consumer per partition (its own read loop,
dispatcher and committer): on Redis Cluster one XREADGROUP may only name
streams of one slot, and separate loops read the partitions fairly. Each
partition's high and low priority streams get a consumer of their own too,
sharing the partition's slots by weight (conveyor_worker.levels).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
import time
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.connection import TRANSIENT_ERRORS
from conveyor.handlers import Registry, Resources
from conveyor.keys import Keys, QueueKeys
from conveyor.limits import LimitsWatcher
from conveyor.priority import Priority
from conveyor.streams import Group
from conveyor.telemetry.consuming import ConsumerContext, ConsumerSpans
from conveyor_worker.breaker import BreakerPolicy, Breakers
from conveyor_worker.committer import Committer
from conveyor_worker.consumer import QueueConsumer
from conveyor_worker.control import ControlConsumer
from conveyor_worker.dispatcher import Dispatcher, Limits
from conveyor_worker.heartbeat import Heartbeat, this_process
from conveyor_worker.janitor import Janitor
from conveyor_worker.lease import LeaseKeeper
from conveyor_worker.levels import LevelGate
from conveyor_worker.metrics import WorkerMetrics
from conveyor_worker.pause import PauseWatch
from conveyor_worker.runtimelimits import RuntimeLimits
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.stranded import stranded_streams
from conveyor_worker.typelimits import TypeLimits

log = structlog.get_logger(__name__)

FINAL_FLUSH_SECONDS = 5.0


def consumer_name() -> str:
    """A consumer name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def wall_ms() -> int:
    """Unix time in ms (the default clock)."""
    return time.time_ns() // 1_000_000


class Worker:
    """Runs handlers from a Registry on every queue of ``keys``."""

    def __init__(
        self,
        client: Redis,
        settings: WorkerSettings,
        registry: Registry,
        keys: Keys,
        *,
        metrics: WorkerMetrics | None = None,
        clock: Callable[[], int] = wall_ms,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        consumer: str | None = None,
        consumer_context: ConsumerContext = "parent",
    ) -> None:
        self.settings = settings
        self._consumer_context: ConsumerContext = consumer_context
        self.consumer = consumer or consumer_name()
        self.metrics = metrics or WorkerMetrics.create(CollectorRegistry())
        base = BreakerPolicy(
            settings.breaker_failure_ratio,
            settings.breaker_min_volume,
            settings.breaker_window,
            settings.breaker_open,
        )
        policy = base if settings.breaker_enabled else None
        breakers = Breakers(policy, monotonic)
        self.breakers = breakers
        self._client, self._keys = client, keys
        self._registry = registry
        # Filled by the registry's lifespans when run() starts; every task's ctx.resources.
        self.resources = Resources()
        self.type_limits = TypeLimits(client, keys, registry)
        runtime = RuntimeLimits(self.type_limits, breakers, base, settings.breaker_enabled)
        self.limits_watcher = LimitsWatcher(client, keys, runtime.apply)
        self._watching: asyncio.Task[None] | None = None
        self.pause = PauseWatch(
            client, keys, refresh=settings.pause_check_interval, monotonic=monotonic
        )
        # The normal level's consumer of each partition (it also runs control and janitor),
        # then the consumers of the other levels.
        self.queues: list[QueueConsumer] = []
        self.levels: list[QueueConsumer] = []
        for queue_keys in keys.all_queues():
            gate = LevelGate(settings.concurrency)
            normal = self._build(client, queue_keys, registry, breakers, clock, rand, gate)
            self.queues.append(normal)
            for level in (Priority.HIGH, Priority.LOW):
                keys_ = queue_keys.at_level(level)
                built = self._build(client, keys_, registry, breakers, clock, rand, gate, normal)
                self.levels.append(built)
                normal.control.watch(built.committer)
        identity = this_process(
            self.consumer, tuple(q.keys.shard for q in self.queues), settings.concurrency, clock()
        )
        in_flight = lambda: sum(len(q.dispatcher.in_flight) for q in self.consumers)  # noqa: E731 - a one-line sum
        self.heartbeat = Heartbeat(
            client, keys, identity, in_flight, settings.heartbeat_interval, clock
        )

    def _build(
        self,
        client: Redis,
        keys: QueueKeys,
        registry: Registry,
        breakers: Breakers,
        clock: Callable[[], int],
        rand: Callable[[], float],
        gate: LevelGate,
        normal: QueueConsumer | None = None,
    ) -> QueueConsumer:
        """The consumer of one partition's level; ``normal``: that partition's normal level's
        consumer, whose control and janitor another level shares (None: this is normal)."""
        s = self.settings
        committer = Committer(client, keys, round(s.mark_ttl * 1000), clock, s.events_maxlen)
        limits = Limits(s.concurrency, s.max_deliveries, s.cancel_check_window)
        spans = ConsumerSpans(keys.tasks, Group.WORKERS, self._consumer_context)
        dispatcher = Dispatcher(
            keys,
            registry,
            committer,
            limits,
            breakers,
            self.metrics,
            clock,
            rand,
            spans,
            type_limits=self.type_limits,
        )
        dispatcher.resources = self.resources
        level = Priority(keys.level)
        gate.add(level, dispatcher)
        visibility_ms = round(s.visibility_timeout * 1000)
        leases = LeaseKeeper(
            client, dispatcher, self.consumer, visibility_ms, s.batch, self.metrics
        )
        if normal is not None:
            control, janitor = normal.control, normal.janitor
            return QueueConsumer(
                client, keys, s, self.consumer, committer, dispatcher, leases, control, janitor,
                pause=self.pause, gate=gate, partition_loops=False,
            )  # fmt: skip
        control = ControlConsumer(client, keys, self.consumer, clock, committer)
        lease_ms = round(s.janitor_interval * 2000)
        janitor = Janitor(client, keys, self.consumer, lease_ms, round(s.consumer_idle * 1000))
        return QueueConsumer(
            client, keys, s, self.consumer, committer, dispatcher, leases, control, janitor,
            pause=self.pause, gate=gate,
        )  # fmt: skip

    async def run(self, stop: asyncio.Event | None = None, *, burst: bool = False) -> None:
        """Serve until ``stop`` is set (or, with ``burst``, until every queue is drained).

        On stop: reading ends, running tasks get ``shutdown_grace`` seconds, outcomes
        are committed; anything unfinished stays pending for another worker to claim.
        The registry's lifespans run around all of it: before anything is read (a
        failure raises StartupError) and after the grace period and the last commit.
        """
        async with self._registry.running(self.resources):
            await self._serve(stop or asyncio.Event(), burst)

    @property
    def consumers(self) -> list[QueueConsumer]:
        """Every consumer of this process: each partition's levels."""
        return self.queues + self.levels

    async def _serve(self, stop: asyncio.Event, burst: bool) -> None:
        for queue in self.consumers:
            await queue.setup()
            if burst:
                # Before the background control loop starts: it would take these messages
                # and might record them only after this burst started their tasks.
                await queue.drain_control()
        for stream in await stranded_streams(self._client, self._keys):
            # Its partition count was lowered before it drained: no one reads it now.
            log.error("partition_stream_stranded", stream=stream)
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await self.limits_watcher.poll()  # the run-time limits before the first task
        background_stop = asyncio.Event()
        background = [t for q in self.consumers for t in q.background(background_stop)]
        background.append(asyncio.create_task(self.heartbeat.run(background_stop)))
        # Ended by background_stop, not cancelled (see _shutdown).
        self._watching = asyncio.create_task(self.limits_watcher.run(background_stop))
        log.info(
            "worker_started", consumer=self.consumer, queues=[q.keys.shard for q in self.queues]
        )
        try:
            if burst:
                await asyncio.gather(*(q.run_burst() for q in self.consumers))
            else:
                await asyncio.gather(*(q.run(stop) for q in self.consumers))
        finally:
            await self._shutdown(background_stop, background)

    async def _shutdown(
        self, background_stop: asyncio.Event, background: list[asyncio.Task[None]]
    ) -> None:
        grace = self.settings.shutdown_grace
        await asyncio.gather(*(q.dispatcher.drain(grace) for q in self.consumers))
        deadline = time.monotonic() + FINAL_FLUSH_SECONDS
        for queue in self.consumers:
            if not await queue.committer.flush(deadline):
                log.warning(
                    "outcomes_not_committed", queue=queue.keys.shard, ops=queue.committer.pending
                )
        await asyncio.gather(*(q.dispatcher.close() for q in self.consumers))
        background_stop.set()
        for task in background:
            task.cancel()
        # Waited for rather than cancelled: a poll cut short before its command started
        # would leave the command's coroutine unawaited.
        watching = self._watching
        if watching is not None:
            await asyncio.wait([watching], timeout=FINAL_FLUSH_SECONDS)
            watching.cancel()
            background.append(watching)
        await asyncio.gather(*background, return_exceptions=True)
        try:
            await self.heartbeat.remove()
        except (redis_errors.RedisError, OSError) as exc:
            log.warning("heartbeat_not_removed", error=str(exc)[:200])  # it expires instead
        log.info("worker_stopped", consumer=self.consumer)
