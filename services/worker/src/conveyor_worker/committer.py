"""The outcome committer: many ops of one queue in one ``worker_commit`` call.

Ops accumulate while handlers run; one flush sends them all in a single EVALSHA.
While Redis is unreachable a flush keeps the ops and retries with backoff, so no
outcome is lost; the worker never exits on a transient connection error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from conveyor import jsoncodec
from conveyor.connection import TRANSIENT_ERRORS
from conveyor.keys import QueueKeys
from conveyor.lua import register
from conveyor.streams import Group
from conveyor_worker.ops import Arg, Op, OpKind, Reply

log = structlog.get_logger(__name__)

CHUNK = 512  # ops per script call: bounds how long one call blocks the server
CONNECTION_ERRORS: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, OSError)
RETRY_FIRST = 0.05
RETRY_CAP = 2.0
MAX_REFUSALS = 4
_DEAD = OpKind.DEAD


class Committer:
    """Collects ops for one queue and commits them in batches."""

    def __init__(
        self,
        client: Redis,
        keys: QueueKeys,
        mark_ttl_ms: int,
        clock: Callable[[], int],
        events_maxlen: int = 0,
    ) -> None:
        self._client = client
        self._keys = keys
        self._script: AsyncScript = register(client, "worker_commit")
        self._mark_ttl = str(mark_ttl_ms)
        self._events_maxlen = str(events_maxlen)
        self._clock = clock
        self._pending: list[Op] = []
        # The cancelled set's size as of the last commit, and when (monotonic s).
        self._cancelled_count = 1
        self._cancelled_seen = 0.0
        self._lock = asyncio.Lock()
        self.wakeup = asyncio.Event()

    def add(self, op: Op) -> None:
        """Queue ``op`` for the next flush and wake the background flusher."""
        self._pending.append(op)
        self.wakeup.set()

    def commit(self, op: Op) -> asyncio.Future[Reply]:
        """Queue ``op``; the future is its reply once committed (None: it was not)."""
        op.reply = reply = asyncio.get_running_loop().create_future()
        self._pending.append(op)
        self.wakeup.set()
        return reply

    def no_cancels_within(self, window: float) -> bool:
        """Whether the cancelled set was seen empty less than ``window`` seconds ago."""
        return self._cancelled_count == 0 and time.monotonic() - self._cancelled_seen < window

    def cancel_recorded(self) -> None:
        """A cancel was just recorded: stop trusting the last empty-set observation."""
        self._cancelled_count = max(self._cancelled_count, 1)

    @property
    def pending(self) -> int:
        """Ops waiting for a flush."""
        return len(self._pending)

    async def flush(self, deadline: float | None = None) -> bool:
        """Commit every queued op; False when ``deadline`` (monotonic) passed first."""
        async with self._lock:
            while self._pending:
                batch = self._pending[:CHUNK]
                del self._pending[:CHUNK]
                try:
                    batch = _text_ops_first(batch)
                    replies = await self._call_with_retry(batch, deadline)
                except TimeoutError:
                    self._pending[:0] = batch  # keep them: the caller decides what is lost
                    return False
                _deliver(batch, replies)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Flush whenever ops arrive, until ``stop`` is set."""
        while not stop.is_set():
            await self.wakeup.wait()
            self.wakeup.clear()
            await self.flush()

    async def _call_with_retry(self, batch: list[Op], deadline: float | None) -> list[Reply]:
        delay = RETRY_FIRST
        refusals = 0
        while True:
            try:
                return await self._call(batch)
            except CONNECTION_ERRORS as exc:
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise TimeoutError from exc
                log.warning("commit_retried", ops=len(batch), error=type(exc).__name__, delay=delay)
            except redis_errors.ResponseError as exc:
                # A server-side refusal (e.g. OOM) may pass; the entries stay pending anyway.
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise TimeoutError from exc
                refusals += 1
                log.exception("commit_refused", ops=len(batch), error=str(exc)[:200], delay=delay)
                if refusals >= MAX_REFUSALS:
                    # Give up on this batch: its entries stay pending and are redelivered.
                    return [None] * len(batch)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_CAP)

    async def _call(self, batch: list[Op]) -> list[Reply]:
        keys = [
            self._keys.tasks,
            self._keys.events,
            self._keys.timers_in,
            self._keys.dead,
            self._keys.cancelled,
            self._keys.replaced,
        ]
        index: dict[str, int] = {}

        def key_index(name: str) -> int:
            found = index.get(name)
            if found is None:
                keys.append(name)
                found = index[name] = len(keys)
            return found

        text_tokens: list[Arg] = []
        byte_tokens: list[Arg] = []
        append = text_tokens.append
        for item in batch:
            kind = item.kind
            if kind is _DEAD:
                byte_tokens += item.encode(key_index)
            elif item.__class__ is Op:
                # A plain op inline (its encode() without the call): the common case.
                append(kind)  # a StrEnum: JSON writes its value
                append(item.entry_id)
                text_tokens += item.parts
            else:
                text_tokens += item.encode(key_index)
        # Most tokens travel as one JSON argument: redis-py packs each argument in Python,
        # so thousands of small arguments would cost more than the commit itself.
        packed = jsoncodec.dumps(text_tokens)
        args: list[Arg] = [
            Group.WORKERS.value,
            self._mark_ttl,
            str(self._clock()),
            self._events_maxlen,
            packed,
            *byte_tokens,
        ]
        seen = time.monotonic()
        replies = list(await self._script(keys=keys, args=args, client=self._client))
        self._cancelled_count, self._cancelled_seen = int(replies.pop()), seen
        return replies


def _text_ops_first(batch: list[Op]) -> list[Op]:
    """The script answers the JSON-carried ops first, then the raw-bytes (dead letter) ops."""
    dead = [o for o in batch if o.kind is _DEAD]
    if not dead:
        return batch
    return [o for o in batch if o.kind is not _DEAD] + dead


def _deliver(batch: list[Op], replies: list[Reply]) -> None:
    for item, reply in zip(batch, replies, strict=True):
        waiting = item.reply
        if waiting is not None and not waiting.done():  # done: its attempt was cancelled
            waiting.set_result(reply)
