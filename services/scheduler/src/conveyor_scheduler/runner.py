"""The service's pass loop: ``Scheduler.tick`` on Redis server time, waking when work is due.

Each pass reads the scheduling clock (Redis server time, so every replica agrees
on now), runs ``tick`` and waits until the earliest of: the next due timer or cron
fire, ``poll_interval_ms``, or stop. The replica holding the fire lease prepares
cron fires coming within ``PREPARE_LEAD_MS`` ahead (planning, building and
encoding 1,000 fires takes 100-300 ms of Python) and sends them, already encoded
(``wire.py``), the moment their instant comes, before the next pass; the fire
script refuses anything not yet due, so an early send is harmless. While fires
are prepared, no pass starts within ``QUIET_MS`` of their instant: a pass takes
milliseconds to tens of milliseconds on a busy machine, and one still running at
the instant would hold the send up. A failed pass (Redis away) is logged and
retried after a pause; the service keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from conveyor.connection import TRANSIENT_ERRORS
from conveyor_scheduler.clock import Clock
from conveyor_scheduler.firer import PreparedFires
from conveyor_scheduler.metrics import SchedulerMetrics
from conveyor_scheduler.scheduler import Scheduler, TickResult
from conveyor_scheduler.settings import SchedulerSettings

log = structlog.get_logger(__name__)

ERROR_PAUSE_S = 1.0
# Preparing 1,000 fires took 110-290 ms on a busy 2-core machine: with passes every 100 ms
# the preparation starts 450-600 ms ahead, so it ends before the instant. A schedule changed
# in that last stretch fires that one instant as it was prepared (the script still refuses a
# fire that is settled or already made).
PREPARE_LEAD_MS = 600
QUIET_MS = 150


async def run_loop(
    scheduler: Scheduler,
    clock: Clock,
    settings: SchedulerSettings,
    stop: asyncio.Event,
    metrics: SchedulerMetrics | None = None,
) -> None:
    """Run passes until ``stop`` is set."""
    pacer = Pacer(clock, stop)
    prepared: tuple[int, PreparedFires] | None = None
    while not stop.is_set():
        try:
            now = await pacer.now_ms()
            if prepared is not None and now < prepared[0] <= now + QUIET_MS:
                # Woken a little early (the local clock's estimate): wait again, no pass.
                await pacer.wait_until(prepared[0])
                continue
            if prepared is not None and now >= prepared[0]:
                fires = await scheduler.send_prepared(prepared[1], now)
                _observe(metrics, TickResult(fires=fires), now)
                prepared = None
            result = await scheduler.tick(now)
            _observe(metrics, result, now)
            wake = now + settings.poll_interval_ms
            if result.next_wake_ms is not None:
                wake = min(wake, result.next_wake_ms)
            upcoming = result.next_fire_ms
            soon = upcoming is not None and upcoming - now <= PREPARE_LEAD_MS
            if prepared is None and result.leader and upcoming is not None and soon:
                prepared = (upcoming, await scheduler.prepare_fires(upcoming))
            if prepared is not None and prepared[0] - wake < QUIET_MS:
                wake = prepared[0]  # no pass just before the instant: it could delay the send
        except TRANSIENT_ERRORS as exc:
            log.warning("pass_failed", error=str(exc))
            if metrics is not None:
                metrics.errors.inc()
            prepared = None
            await _wait(stop, ERROR_PAUSE_S)
            continue
        await pacer.wait_until(wake)


def _observe(metrics: SchedulerMetrics | None, result: TickResult, now_ms: int) -> None:
    if metrics is not None:
        metrics.observe(result, now_ms)


class Pacer:
    """Waits for instants of the scheduling clock, using the local monotonic clock in between."""

    def __init__(self, clock: Clock, stop: asyncio.Event) -> None:
        self._clock = clock
        self._stop = stop
        self._loop = asyncio.get_running_loop()
        self._offset_ms = 0.0  # scheduling clock minus local monotonic clock, at the last read

    async def now_ms(self) -> int:
        """Read the scheduling clock (and remember its offset from the local clock)."""
        now = await self._clock.now_ms()
        self._offset_ms = now - self._loop.time() * 1000
        return now

    async def wait_until(self, target_ms: int) -> None:
        """Wait until the scheduling clock should read ``target_ms``, or until stop."""
        estimate = self._loop.time() * 1000 + self._offset_ms
        # A millisecond of margin: the clock reads whole milliseconds.
        await _wait(self._stop, (target_ms - estimate + 1) / 1000)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
