"""Coalesces concurrent requests' script calls into pipelines.

A request that awaits its own round trip caps one process at a few thousand
requests/s. Here calls queue up and go out together in one non-transactional
pipeline (each script stays atomic on its own); each caller gets its own reply
or exception. At most MAX_INFLIGHT pipelines are in flight: calls made meanwhile
wait for the next one, so the busier the process, the larger (and fewer) the
pipelines - the send/receive cost is paid per pipeline, not per request.

A call made within a request's deadline (conveyor_ingest.deadline) is answered by
then: a call still waiting for a pipeline when its deadline passes is never sent
(``NotWrittenError``); one sent whose reply has not come is answered
``OutcomeUnknownError`` (the reply, when it comes, is dropped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from conveyor.connection import ReplicaWait
from conveyor.dataset import DatasetResetError, guard_of
from conveyor_ingest import deadline as conveyor_deadline

MAX_PIPELINE = 512
MAX_INFLIGHT = 4


@dataclass(slots=True)
class _Call:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]
    future: asyncio.Future[Any]
    sent: bool = False


class ScriptWriter:
    """Queues script calls and flushes them together on the next loop iteration."""

    def __init__(self, client: Redis, wait: ReplicaWait | None = None) -> None:
        self._client = client
        self._wait = wait  # CONVEYOR_REDIS_WAIT_*: replicas/fsync to await before answering
        self._pending: list[_Call] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        # Nothing is written to a dataset found lost or replaced until it is acknowledged.
        self._dataset = guard_of(client)

    @property
    def in_flight(self) -> int:
        """Pipelines sent and not yet answered."""
        return len(self._tasks)

    async def call(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``script`` with ``keys`` and ``args`` in the next pipeline; return its reply."""
        if self._dataset is not None and self._dataset.stopped:
            raise DatasetResetError(self._dataset.problem())
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        call = _Call(script, keys, args, future)
        self._pending.append(call)
        if not self._scheduled and len(self._tasks) < MAX_INFLIGHT:
            self._scheduled = True
            loop.call_soon(self._start_flush)
        deadline = conveyor_deadline.current()
        if deadline is None:
            return await future
        try:
            async with asyncio.timeout_at(deadline):
                return await future  # a timeout cancels it: an unsent call is then skipped
        except TimeoutError as exc:
            if call.sent:
                msg = "storage did not answer in time; the write may still take effect"
                raise conveyor_deadline.OutcomeUnknownError(msg) from exc
            msg = "storage did not take the write in time; nothing was written"
            raise conveyor_deadline.NotWrittenError(msg) from exc

    def _start_flush(self) -> None:
        self._scheduled = False
        # Calls whose caller is gone (deadline passed, client away) are never sent.
        self._pending = [call for call in self._pending if not call.future.done()]
        while self._pending and len(self._tasks) < MAX_INFLIGHT:
            calls, self._pending = self._pending[:MAX_PIPELINE], self._pending[MAX_PIPELINE:]
            for call in calls:
                call.sent = True
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
            replies = await self._send(calls)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # first use on this server (or after SCRIPT FLUSH / a restart)
                for script in {id(calls[i].script): calls[i].script for i in missing}.values():
                    await self._client.script_load(script.script)
                retried = await self._send([calls[i] for i in missing])
                for index, reply in zip(missing, retried, strict=True):
                    replies[index] = reply
        except Exception as exc:  # every waiting caller gets the failure
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

    async def _send(self, calls: list[_Call]) -> list[Any]:
        # EVALSHA queued by hand: a pipeline given Script objects would first send a
        # SCRIPT EXISTS round trip on every execution.
        wait = self._wait
        async with self._client.pipeline(transaction=False) as pipe:
            for call in calls:
                # execute_command, not pipe.evalsha: redis-py's cluster pipeline blocks the
                # evalsha method, while a raw EVALSHA is routed by its keys' slot.
                pipe.execute_command(
                    "EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args
                )
            # WAIT counts the writes of its own connection: it rides in the same pipeline.
            if wait is not None:
                wait.append(pipe)
            replies = list(await pipe.execute(raise_on_error=False))
        if wait is not None:
            wait.check(replies[len(calls) :])  # too few replicas: every caller gets a 503
        return replies[: len(calls)]

    async def aclose(self) -> None:
        """Wait for flushes in flight."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
