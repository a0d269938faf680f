"""The one consumer-group read loop: every service reads its streams through it.

The worker (task stream), the scheduler (its input, control and schedule-change
streams) and ingest's read model (events) share these rules, so a fix lands once:

- The group is created (id 0, MKSTREAM) before the first read and again after a
  NOGROUP reply (the stream or its group was deleted, or lost in a failover);
  the client's dataset identity is checked first (conveyor.dataset), so no group
  is recreated quietly on a Redis that lost its data.
- A read that failed on the connection (a timeout while Redis was paused, a reset)
  may still have run on the server, which then handed entries to this consumer
  that nobody holds. The next read therefore takes this consumer's own pending
  entries (``XREADGROUP ... 0``, then onwards from the last one returned) before
  any new ones: they come back at once, not after a visibility timeout. A caller
  that still holds some of them (the worker's running tasks) skips those.
- Entries left pending by a consumer that died are claimed with XAUTOCLAIM once
  idle ``claim_idle_ms``, at most every half of that (when the reader is given one).
- A blocking read never blocks longer than the client's command timeout allows.
- ``run_guarded`` survives every failure of a step: it logs it and pauses, from
  0.1 s doubling to 5 s, and starts again at 0.1 s after a step that succeeded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from conveyor.connection import COMMAND_TIMEOUT_S, TRANSIENT_ERRORS, is_cluster
from conveyor.dataset import guard_of
from conveyor.streams import Entry, ensure_group, read_reply_entries

log = structlog.get_logger(__name__)

ERROR_PAUSE_FIRST = 0.1
ERROR_PAUSE_CAP = 5.0
# A blocked read must answer before the client's socket timeout, or it fails as one.
MAX_BLOCK_MS = int(COMMAND_TIMEOUT_S * 1000) - 1000
# Errors of a step that mean "Redis did not do it", as opposed to a bug.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, OSError)
REDIS_ERRORS: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, redis_errors.ResponseError)

Batches = list[tuple[str, list[Entry]]]


@dataclass
class GroupReader:
    """One consumer of ``group`` reading ``streams`` (several at once where one call may)."""

    client: Redis
    group: str
    consumer: str
    streams: Sequence[str]
    claim_idle_ms: int | None = None
    _ready: bool = field(default=False, init=False)
    # stream -> the id after which this consumer's own pending entries are read next.
    _recovering: dict[str, str] = field(default_factory=dict, init=False)
    _last_claim_ms: int | None = field(default=None, init=False)

    async def ensure_groups(self) -> None:
        """Create the group on every stream that lacks it (after the dataset check)."""
        guard = guard_of(self.client)
        if guard is not None:
            await guard.verify(self.client)
        for stream in self.streams:
            await ensure_group(self.client, stream, self.group)
        self._ready = True

    def recover_own(self) -> None:
        """Read this consumer's own pending entries before new ones, from the start."""
        self._recovering = dict.fromkeys(self.streams, "0")

    async def read(self, count: int, block_ms: int | None = None, now_ms: int = 0) -> Batches:
        """Entries to handle, as ``[(stream, entries)]``: own pending, stale, then new ones.

        ``now_ms`` paces the XAUTOCLAIM of dead consumers' entries. Connection errors
        are raised (after arranging the recovery of own pending entries); a NOGROUP
        reply answers ``[]`` and the next read recreates the group.
        """
        try:
            if not self._ready:
                await self.ensure_groups()
            if self._recovering:
                return await self._read_own(count)
            return await self._read_new(count, block_ms, now_ms)
        except CONNECTION_ERRORS:
            self.recover_own()
            raise
        except redis_errors.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("consumer_group_missing", group=self.group, error=str(exc)[:200])
            self._ready = False
            return []

    async def _read_own(self, count: int) -> Batches:
        reply = await self._xreadgroup(dict(self._recovering), count, None)
        found: Batches = []
        for stream, entries in reply:
            if not entries:
                self._recovering.pop(stream, None)  # this stream's own pending list is done
                continue
            self._recovering[stream] = entries[-1][0].decode()
            # An entry deleted (trimmed) while pending comes back without fields: the
            # reclaimer of its service accounts for it.
            found.append((stream, [entry for entry in entries if entry[1]]))
        if found:
            log.warning(
                "own_pending_recovered", group=self.group, count=sum(len(b) for _, b in found)
            )
        return found

    async def _read_new(self, count: int, block_ms: int | None, now_ms: int) -> Batches:
        batches = await self._claim_stale(count, now_ms)
        taken = sum(len(entries) for _, entries in batches)
        if taken < count:
            block = None if taken or block_ms is None else min(block_ms, MAX_BLOCK_MS)
            wanted = dict.fromkeys(self.streams, ">")
            batches += await self._xreadgroup(wanted, count - taken, block)
        return [(stream, entries) for stream, entries in batches if entries]

    async def _claim_stale(self, count: int, now_ms: int) -> Batches:
        idle = self.claim_idle_ms
        last = self._last_claim_ms
        if idle is None or (last is not None and now_ms - last < idle // 2):
            return []
        self._last_claim_ms = now_ms
        batches: Batches = []
        for stream in self.streams:
            reply = await self.client.xautoclaim(
                stream, self.group, self.consumer, idle, "0-0", count=count
            )
            claimed = [(entry_id, fields) for entry_id, fields in reply[1] if fields is not None]
            if claimed:
                log.warning("stale_entries_claimed", stream=stream, count=len(claimed))
                batches.append((stream, claimed))
        return batches

    async def _xreadgroup(self, streams: dict[str, str], count: int, block: int | None) -> Batches:
        # On Redis Cluster one call may only name streams of one slot: read each on its own.
        reads: list[dict[Any, Any]] = (
            [{stream: at} for stream, at in streams.items()]
            if len(streams) > 1 and is_cluster(self.client)
            else [dict(streams)]
        )
        replies = await asyncio.gather(
            *(
                self.client.xreadgroup(self.group, self.consumer, read, count=count, block=block)
                for read in reads
            )
        )
        batches: dict[str, list[Entry]] = {stream: [] for stream in streams}
        for reply in replies:
            for stream, entries in read_reply_entries(reply):
                batches[_text(stream)] = entries
        return list(batches.items())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``stop``; True when it was set."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


async def run_guarded(stop: asyncio.Event, event: str, step: Callable[[], Awaitable[Any]]) -> None:
    """Call ``step`` until ``stop``; after a failure log ``event``, pause (backoff), go on.

    A loop inside a live process must never end quietly: an unexpected exception is
    logged with its traceback and retried like a Redis error (e.g. redis-py's cluster
    client has raised AttributeError from a connection torn down during a failover).
    """
    pause = ERROR_PAUSE_FIRST
    while not stop.is_set():
        try:
            await step()
        except REDIS_ERRORS as exc:
            log.warning(event, error=type(exc).__name__, detail=str(exc)[:200], pause=pause)
        except Exception:
            log.exception(event, pause=pause)
        else:
            pause = ERROR_PAUSE_FIRST
            continue
        if await stopped_within(stop, pause):
            return
        pause = min(pause * 2, ERROR_PAUSE_CAP)
