"""Gathers items submitted during one event-loop tick, per key, into one flush call.

Used where many concurrent requests do the same kind of write: single-task
enqueues of one queue become one script call (one XADD per task inside), and a
client's rate-limit checks of one tick become one GCRA call with a count. The
flush runs under the earliest deadline of its requests (conveyor_ingest.deadline),
and items whose caller has gone (deadline passed) before it started are left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from conveyor_ingest import deadline as conveyor_deadline

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


class TickBatcher(Generic[K, T, R]):
    """``submit(key, item)`` returns ``flush(key, items)[i]`` for its item ``i``."""

    def __init__(self, flush: Callable[[K, list[T]], Awaitable[Sequence[R]]]) -> None:
        self._flush = flush
        self._pending: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._deadlines: dict[K, float | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: T) -> R:
        """Queue ``item`` under ``key`` and wait for its result (or the flush's exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        waiting = self._pending.setdefault(key, [])
        waiting.append((item, future))
        deadline = conveyor_deadline.current()
        if len(waiting) == 1:
            self._deadlines[key] = deadline
            loop.call_soon(self._start, key)
        elif deadline is not None:
            earliest = self._deadlines.get(key)
            self._deadlines[key] = deadline if earliest is None else min(earliest, deadline)
        return await future

    def _start(self, key: K) -> None:
        batch = [(item, future) for item, future in self._pending.pop(key, []) if not future.done()]
        deadline = self._deadlines.pop(key, None)
        if not batch:
            return
        task = asyncio.create_task(self._run(key, batch, deadline))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, key: K, batch: list[tuple[T, asyncio.Future[R]]], deadline: float | None
    ) -> None:
        conveyor_deadline.use(deadline)  # this task's own context: its writes' deadline
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
