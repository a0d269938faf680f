"""Coalesces concurrent requests' script calls into pipelines.

A request that awaits its own round trip caps one process at a few thousand
requests/s. Here calls queue up and go out together in one non-transactional
pipeline (each script stays atomic on its own); each caller gets its own reply
or exception. At most MAX_INFLIGHT pipelines are in flight: calls made meanwhile
wait for the next one, so the busier the process, the larger (and fewer) the
pipelines - the send/receive cost is paid per pipeline, not per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

MAX_PIPELINE = 512
MAX_INFLIGHT = 4


@dataclass(slots=True)
class _Call:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]
    future: asyncio.Future[Any]


class ScriptWriter:
    """Queues script calls and flushes them together on the next loop iteration."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._pending: list[_Call] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``script`` with ``keys`` and ``args`` in the next pipeline; return its reply."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Call(script, keys, args, future))
        if not self._scheduled and len(self._tasks) < MAX_INFLIGHT:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)
        return await future

    def _start_flush(self) -> None:
        self._scheduled = False
        while self._pending and len(self._tasks) < MAX_INFLIGHT:
            calls, self._pending = self._pending[:MAX_PIPELINE], self._pending[MAX_PIPELINE:]
            task = asyncio.create_task(self._flush(calls))
            self._tasks.add(task)
            task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    async def _flush(self, calls: list[_Call]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for call in calls:
                    await call.script(keys=call.keys, args=call.args, client=pipe)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        for call, reply in zip(calls, replies, strict=True):
            if call.future.done():
                continue  # the caller went away (client disconnected)
            if isinstance(reply, Exception):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)

    async def aclose(self) -> None:
        """Wait for flushes in flight."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
