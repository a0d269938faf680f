"""Gathers items submitted during one event-loop tick, per key, into one flush call.

Used where many concurrent requests do the same kind of write: single-task
enqueues of one queue become one script call (one XADD per task inside), and a
client's rate-limit checks of one tick become one GCRA call with a count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


class TickBatcher(Generic[K, T, R]):
    """``submit(key, item)`` returns ``flush(key, items)[i]`` for its item ``i``."""

    def __init__(self, flush: Callable[[K, list[T]], Awaitable[Sequence[R]]]) -> None:
        self._flush = flush
        self._pending: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: T) -> R:
        """Queue ``item`` under ``key`` and wait for its result (or the flush's exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        waiting = self._pending.setdefault(key, [])
        waiting.append((item, future))
        if len(waiting) == 1:
            loop.call_soon(self._start, key)
        return await future

    def _start(self, key: K) -> None:
        batch = self._pending.pop(key, [])
        task = asyncio.create_task(self._run(key, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: K, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush(key, [item for item, _ in batch])
        except Exception as exc:  # every waiting caller gets the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
