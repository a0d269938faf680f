"""The dashboard's live overview: one computation shared by every connected dashboard.

``GET /api/v1/stream/overview`` subscribes to the app's :class:`OverviewHub`. While at
least one subscriber is connected the hub computes the overview (every queue's figures,
as GET /api/v1/queues, and the live workers, as GET /api/v1/workers) once per
``interval`` and hands the same text to each subscriber: N dashboards cost one
computation per interval, not N. Each subscriber holds only the newest overview (a slow
reader skips stale ones and never holds the others up). With no subscriber, nothing runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from conveyor.grouploop import REDIS_ERRORS
from conveyor.workers import list_workers
from conveyor_ingest.context import Services
from conveyor_ingest.figures import queue_figures
from conveyor_ingest.models import QueueList
from conveyor_ingest.operator_models import Overview, WorkerList, WorkerOut, ms_time
from conveyor_ingest.responses import dumps
from conveyor_ingest.store import now_ms

log = structlog.get_logger(__name__)

INTERVAL_S = 2.0
# Ends a subscription: the app is stopping.
_CLOSED = ""


async def compute_overview(svc: Services) -> str:
    """The overview as JSON text (the ``data`` of one ``overview`` event)."""
    at = now_ms()
    dataset = svc.dataset.state() if svc.dataset is not None else None
    items = []
    if svc.dataset is None or not svc.dataset.stopped:
        items = await queue_figures(svc.client, svc.keys, svc.redis_settings.queues)
    records = await list_workers(svc.client, svc.keys)
    overview = Overview(
        at=ms_time(at),
        queues=QueueList.model_validate({"items": items, "dataset": dataset}),
        workers=WorkerList(items=[WorkerOut.of(record, at) for record in records]),
    )
    return dumps(overview.model_dump(mode="json", exclude_unset=True))


class OverviewHub:
    """Computes the overview every ``interval_s`` while anyone listens; fans it out."""

    def __init__(self, compute: Callable[[], Awaitable[str]], interval_s: float = INTERVAL_S):
        self._compute = compute
        self.interval_s = interval_s
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._latest: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.computations = 0  # how many times the overview was computed (tests read it)

    @property
    def subscribers(self) -> int:
        """How many streams are connected."""
        return len(self._subscribers)

    @property
    def idle(self) -> bool:
        """Whether the computing loop is not running (no one has listened since)."""
        return self._task is None or self._task.done()

    def subscribe(self) -> asyncio.Queue[str]:
        """A new subscriber's queue: the newest overview at once when there is one."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        if self._closed:
            queue.put_nowait(_CLOSED)
            return queue
        self._subscribers.add(queue)
        if self._latest is not None:
            queue.put_nowait(self._latest)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        """Stop handing overviews to ``queue``."""
        self._subscribers.discard(queue)

    async def _run(self) -> None:
        while self._subscribers:
            try:
                text = await self._compute()
            except REDIS_ERRORS as exc:
                log.warning("overview_failed", error=type(exc).__name__, detail=str(exc)[:200])
            else:
                self.computations += 1
                self._latest = text
                for queue in list(self._subscribers):
                    _offer(queue, text)
            await asyncio.sleep(self.interval_s)  # the pace of the pushes, not a wait for state
        self._latest = None  # nobody listened: the next subscriber waits for a fresh one

    async def close(self) -> None:
        """End every subscription and the computing loop (the app is stopping)."""
        self._closed = True
        for queue in list(self._subscribers):
            _offer(queue, _CLOSED)
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


OVERVIEW: web.AppKey[OverviewHub] = web.AppKey("overview", OverviewHub)


def _offer(queue: asyncio.Queue[str], text: str) -> None:
    """Put ``text``, replacing an overview the subscriber has not read yet."""
    with contextlib.suppress(asyncio.QueueEmpty):
        if queue.full():
            queue.get_nowait()
    queue.put_nowait(text)
