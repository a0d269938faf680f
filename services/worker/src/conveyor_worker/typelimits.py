"""Per-task-type limits: a rate shared by every worker (GCRA in Redis, ``worker_rate.lua``)
and a cap on the attempts of a type running at once in this process.

A task over its type's rate waits in the worker when its slot is at most HOLD_MS away;
a later slot is reserved for it in Redis and the task is deferred through the timer
stream to that slot without spending an attempt (as an open breaker defers), so deferred
tasks come back spaced at the rate. A task over its type's concurrency waits for a running
one to finish; when as many already wait as the cap allows to run, it is deferred by
BUSY_DEFER_MS instead, so one capped type cannot fill every in-flight slot of the process.
Limits come from the handler's options; run-time values (``conveyor.limits``) win.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from conveyor.handlers import Registry
from conveyor.keys import Keys
from conveyor.lua import register
from conveyor.rates import Rate

HOLD_MS = 250
BUSY_DEFER_MS = 1000


def wall_us() -> int:
    """Unix time in microseconds (the default clock)."""
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class TypeLimit:
    """The limits of one task type (None: not limited that way)."""

    rate: Rate | None = None
    concurrency: int | None = None


class TypeLimits:
    """The limits of every task type served by this process (shared by its dispatchers)."""

    def __init__(
        self, client: Redis, keys: Keys, registry: Registry, clock_us: Callable[[], int] = wall_us
    ) -> None:
        self._keys = keys
        self._clock_us = clock_us
        self._script = register(client, "worker_rate")
        self._static = {
            h.name: TypeLimit(h.options.rate_limit, h.options.concurrency)
            for h in registry
            if h.options.rate_limit is not None or h.options.concurrency is not None
        }
        self._limits: dict[str, TypeLimit] = dict(self._static)
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def applies(self, task_type: str) -> bool:
        """Whether ``task_type`` has a limit (the common path asks only this)."""
        return task_type in self._limits

    def limit(self, task_type: str) -> TypeLimit | None:
        """The limits in force for ``task_type``."""
        return self._limits.get(task_type)

    def override(self, overrides: Mapping[str, TypeLimit]) -> None:
        """Apply run-time limits: a field set there wins over the handler's option."""
        merged = dict(self._static)
        for task_type, extra in overrides.items():
            base = merged.get(task_type, TypeLimit())
            merged[task_type] = TypeLimit(
                extra.rate if extra.rate is not None else base.rate,
                extra.concurrency if extra.concurrency is not None else base.concurrency,
            )
        self._limits = {t: v for t, v in merged.items() if v.rate or v.concurrency}

    async def waits_ms(self, task_type: str, task_ids: list[str]) -> list[int]:
        """Milliseconds until each task may run by its type's rate (0: now), one round trip."""
        limit = self._limits.get(task_type)
        rate = limit.rate if limit is not None else None
        if rate is None:
            return [0] * len(task_ids)
        keys = [self._keys.type_rate(task_type), self._keys.type_reservations(task_type)]
        args: list[str | int] = [self._clock_us(), rate.interval_us, rate.tolerance_us]
        args += [HOLD_MS * 1000, *task_ids]
        reply = await self._script(keys=keys, args=args)
        return [math.ceil(int(wait) / 1000) for wait in reply]

    async def acquire(self, task_type: str) -> bool:
        """Take a running slot of ``task_type``, waiting for one; False: too many wait
        already (defer the task). Every True needs one ``release``."""
        limit = self._limits.get(task_type)
        cap = limit.concurrency if limit is not None else None
        running = self._running.get(task_type, 0)
        if cap is None or running < cap:
            self._running[task_type] = running + 1
            return True
        queue = self._waiting.setdefault(task_type, deque())
        if len(queue) >= cap:
            return False
        future = asyncio.get_running_loop().create_future()
        queue.append(future)
        try:
            await future  # a finishing attempt hands its slot over
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(task_type)  # handed over, but this task is going away
            elif future in queue:
                queue.remove(future)
            raise
        return True

    def release(self, task_type: str) -> None:
        """Give back a running slot: to the longest waiter, if the cap still allows."""
        queue = self._waiting.get(task_type)
        limit = self._limits.get(task_type)
        cap = limit.concurrency if limit is not None else None
        running = self._running.get(task_type, 1)
        while queue and (cap is None or running <= cap):
            future = queue.popleft()
            if not future.done():
                future.set_result(None)
                return
        self._running[task_type] = running - 1
