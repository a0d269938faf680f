"""Progress reports of running handlers (``await ctx.progress(fraction, message)``), coalesced.

A report becomes a ``progress`` event on the queue's events stream, riding on the next
batched commit (no round trip of its own). Per task at most one report is published
every INTERVAL_S: a report within that time of the last one is held, and the newest
held value is published when the interval ends or, at the latest, just before the
task's outcome is committed, so the last value always lands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from conveyor.events import TaskEventType, event_tokens
from conveyor.handlers import TaskContext
from conveyor_worker.committer import Committer
from conveyor_worker.ops import Op, OpKind

INTERVAL_S = 0.25


class ProgressReporter:
    """The progress sink of one dispatcher's tasks (``TaskContext.progress_sink``)."""

    def __init__(self, committer: Committer, clock: Callable[[], int]) -> None:
        self._committer = committer
        self._clock = clock
        self._sent_at: dict[str, float] = {}  # entry id -> when its last report went out
        self._held: dict[str, tuple[TaskContext, asyncio.TimerHandle]] = {}

    def __call__(self, ctx: TaskContext) -> None:
        """A new report of ``ctx``'s task: publish it now or hold it for the interval."""
        entry_id = ctx.entry_id
        if entry_id in self._held:
            return  # the held publish reads the newest value when it fires
        now = time.monotonic()
        sent = self._sent_at.get(entry_id)
        if sent is None or now - sent >= INTERVAL_S:
            self._publish(ctx, now)
            return
        handle = asyncio.get_running_loop().call_later(sent + INTERVAL_S - now, self._due, entry_id)
        self._held[entry_id] = (ctx, handle)

    def finish(self, ctx: TaskContext) -> None:
        """Before the task's outcome is committed: publish a held report, forget the task."""
        held = self._held.pop(ctx.entry_id, None)
        if held is not None:
            held[1].cancel()
            self._publish(ctx, 0.0)
        self._sent_at.pop(ctx.entry_id, None)

    def _due(self, entry_id: str) -> None:
        held = self._held.pop(entry_id, None)
        if held is not None:
            self._publish(held[0], time.monotonic())

    def _publish(self, ctx: TaskContext, now: float) -> None:
        assert ctx.last_progress is not None  # noqa: S101 - only called after a report
        fraction, message = ctx.last_progress
        self._sent_at[ctx.entry_id] = now
        tokens = event_tokens(
            TaskEventType.PROGRESS,
            ctx.envelope,
            self._clock(),
            "progress",
            repr(fraction),
            "progress_message",
            message,
        )
        self._committer.add(Op(OpKind.PUBLISH_START, ctx.entry_id, tokens))
