"""GET /api/v1/workers: the live worker processes, from their heartbeats. Admin scope."""

from __future__ import annotations

import time

from aiohttp import web

from conveyor.workers import list_workers
from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, services
from conveyor_ingest.operations import ApiRoutes
from conveyor_ingest.operator_models import WorkerList, WorkerOut
from conveyor_ingest.responses import ok

routes = ApiRoutes()


@routes.operation("GET", "/api/v1/workers", response=WorkerList)
async def get_workers(request: web.Request) -> web.Response:
    """Every worker whose heartbeat has not expired, by consumer name."""
    authorize(request, Scope.ADMIN, "worker.list")
    svc = services(request)
    now_ms = time.time_ns() // 1_000_000
    records = await list_workers(svc.client, svc.keys)
    body = WorkerList(items=[WorkerOut.of(record, now_ms) for record in records])
    return ok(body)
