"""GET /api/v1/queues: per-queue depth, pending, lag, consumers, dead letters, oldest pending."""

from __future__ import annotations

from aiohttp import web

from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, services
from conveyor_ingest.figures import queue_figures
from conveyor_ingest.models import QueueList
from conveyor_ingest.operations import ApiRoutes
from conveyor_ingest.responses import ok

routes = ApiRoutes()


@routes.operation("GET", "/api/v1/queues", response=QueueList)
async def list_queues(request: web.Request) -> web.Response:
    """Queue figures.

    Every configured queue's depth, pending, lag, consumers, dead letters and oldest
    pending age (a partitioned queue also lists its partitions). ``dataset``: resets of
    the Redis dataset this process saw, and whether it stopped for one (then no figures:
    nothing is read from a dataset not acknowledged).
    """
    authorize(request, Scope.ADMIN, "queue.list")
    svc = services(request)
    dataset = svc.dataset.state() if svc.dataset is not None else None
    if svc.dataset is not None and svc.dataset.stopped:
        return ok(QueueList.model_validate({"items": [], "dataset": dataset}))
    items = await queue_figures(svc.client, svc.keys, svc.redis_settings.queues)
    return ok(QueueList.model_validate({"items": items, "dataset": dataset}))
