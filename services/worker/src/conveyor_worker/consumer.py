"""One queue's consumer: the read loop and the background loops that keep it healthy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.grouploop import GroupReader, run_guarded, stopped_within
from conveyor.keys import QueueKeys
from conveyor.priority import Priority
from conveyor.streams import Group
from conveyor_worker.committer import CONNECTION_ERRORS, Committer
from conveyor_worker.control import ControlConsumer
from conveyor_worker.dispatcher import Dispatcher
from conveyor_worker.janitor import Janitor
from conveyor_worker.lease import LeaseKeeper
from conveyor_worker.levels import LevelGate
from conveyor_worker.pause import PauseWatch
from conveyor_worker.settings import WorkerSettings

log = structlog.get_logger(__name__)
# What a periodic action or a recovery may fail with and the loop survives.
_LOOP_ERRORS: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, redis_errors.ResponseError)

IDLE_WAIT = 0.05


class QueueConsumer:
    """Reads one queue's task stream in the workers group and feeds the dispatcher."""

    def __init__(
        self,
        client: Redis,
        keys: QueueKeys,
        settings: WorkerSettings,
        consumer: str,
        committer: Committer,
        dispatcher: Dispatcher,
        leases: LeaseKeeper,
        control: ControlConsumer,
        janitor: Janitor,
        pause: PauseWatch | None = None,
        gate: LevelGate | None = None,
        *,
        partition_loops: bool = True,
    ) -> None:
        self._client = client
        self.keys = keys
        self._settings = settings
        self._consumer = consumer
        self.committer = committer
        self.dispatcher = dispatcher
        self.leases = leases
        self.control = control
        self.janitor = janitor
        self.pause = pause
        # The partition's other levels share its slots through the gate (None: one level).
        self._gate = gate
        # False for a level other than normal: it shares the normal level's control and
        # janitor, whose loops that level's consumer runs.
        self._partition_loops = partition_loops
        self._level = Priority(keys.level)
        self._block = settings.block_ms or None  # BLOCK 0 would wait forever
        self._reader = GroupReader(client, Group.WORKERS, consumer, (keys.tasks,))

    async def setup(self) -> None:
        """Create the workers group on the task and control streams (MKSTREAM, id 0)."""
        await self._reader.ensure_groups()
        if self._partition_loops:
            await self.control.reader.ensure_groups()

    async def read_once(self, block_ms: int | None) -> int:
        """Read and dispatch one batch; returns the number of entries read.

        After a failed read this consumer's own pending entries come first (see
        conveyor.grouploop); the dispatcher skips those it is still running.
        """
        count = min(self._settings.batch, self._free_slots())
        if count == 0:
            await self._wait_for_slot(1.0)
            return 0
        if self.pause is not None:  # a paused queue's entries stay in the stream
            if await self.pause.paused(self.keys.queue):
                await self.pause.wait()
                return 0
            block_ms = self.pause.block_ms(block_ms)
        batches = await self._reader.read(count, block_ms)
        entries = [entry for _, batch in batches for entry in batch]
        if self._gate is not None:
            self._gate.found(self._level, len(entries))
        if entries:
            self.dispatcher.dispatch(entries)
        return len(entries)

    async def run(self, stop: asyncio.Event) -> None:
        """Read until ``stop`` is set, riding out Redis outages."""
        await run_guarded(stop, "read_failed", lambda: self._read_until(stop))

    async def _read_until(self, stop: asyncio.Event) -> int:
        """``read_once``, ended at once by ``stop`` (an idle worker exits without waiting
        out its blocked read).

        The cancelled read may have been served just before it was cancelled: those
        entries are this consumer's pending ones now, so one last non-blocking read of
        its own pending entries dispatches them (the dispatcher skips those it runs),
        and the drain gives them the grace period like any other running task.
        """
        read = asyncio.ensure_future(self.read_once(self._block))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((read, stopped), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            read.cancel()
            raise
        finally:
            stopped.cancel()
        if read.done():
            return read.result()
        read.cancel()
        await asyncio.wait((read,))
        if not read.cancelled():
            read.exception()  # a read that failed meanwhile: recovered from below alike
        if self.dispatcher.free_slots == 0:
            return 0  # no room: what the read may have taken stays pending, for a reclaim
        self._reader.recover_own()
        return await self.read_once(None)

    def _free_slots(self) -> int:
        if self._gate is None:
            return self.dispatcher.free_slots
        return self._gate.grant(self._level)

    async def drain_control(self) -> None:
        """Apply every control message written so far (a burst does this before it reads)."""
        while self._partition_loops and await self.control.poll(None):
            pass

    async def run_burst(self) -> None:
        """Run until the stream is drained, nothing is in flight and nothing is claimable.

        An empty read proves the stream drained only if nothing was in flight when it was
        sent: a commit in flight may add an entry (a replaced task's changed copy) after the
        read ran on the server, and its reply may still be handled before the read's.
        """
        while True:
            if self._free_slots() == 0:
                await self._wait_for_slot(IDLE_WAIT)
                continue
            idle = self._idle()
            if await self.read_once(None):
                continue
            if not self._idle():
                await self._wait_for_slot(IDLE_WAIT)
                continue
            if not idle:
                continue  # the last commits ended during the read: read once more
            if await self.reclaim():
                continue
            return

    async def reclaim(self) -> int:
        """Claim and start stalled entries, unless the queue is paused; returns how many."""
        if self.pause is not None and await self.pause.paused(self.keys.queue):
            return 0
        return await self.leases.reclaim()

    def _idle(self) -> bool:
        """Nothing in flight and no op waiting: no commit can still add a task entry."""
        return not (self.dispatcher.in_flight or self.committer.pending)

    async def _wait_for_slot(self, seconds: float) -> None:
        self.dispatcher.slot_freed.clear()
        try:
            async with asyncio.timeout(seconds):
                await self.dispatcher.slot_freed.wait()
        except TimeoutError:
            pass

    def background(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """Start the flusher, lease renewal, reclaim, control and janitor loops.

        The partition's control and janitor loops run in its ``normal`` level's consumer.
        """
        settings = self._settings
        loops = [
            self.committer.run(stop),
            _every(stop, settings.visibility_timeout / 3, self.leases.renew),
            _every(stop, settings.reclaim_interval, self.reclaim),
        ]
        if self._partition_loops:
            control_poll = lambda: self.control.poll(self._block)  # noqa: E731 - a one-line loop body
            loops.append(_every(stop, settings.janitor_interval, self.janitor.run_once))
            loops.append(run_guarded(stop, "control_failed", control_poll))
        return [asyncio.create_task(loop) for loop in loops]


async def _every(
    stop: asyncio.Event, interval: float, action: Callable[[], Awaitable[Any]]
) -> None:
    """Run ``action`` every ``interval`` s until ``stop``; failures are logged, not fatal."""
    name = getattr(action, "__name__", "?")
    while not await stopped_within(stop, interval):
        try:
            await action()
        except _LOOP_ERRORS as exc:
            log.warning("periodic_task_failed", action=name, error=str(exc)[:200])
