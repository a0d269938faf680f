"""POST /api/v1/queues/{queue}/pause and /resume. Admin scope, audited.

A paused queue keeps accepting tasks and the scheduler keeps firing into it; the
tasks wait in its stream. Workers start none of them within about a second and
finish what they hold; resuming lets them run. The state is in Redis
(``conveyor.pausing``), so it survives restarts; GET /api/v1/queues and the
``conveyor_queue_paused`` gauge show it.
"""

from __future__ import annotations

import time

from aiohttp import web

from conveyor.pausing import pause_queue, resume_queue
from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, check_queue, services
from conveyor_ingest.operations import ApiRoutes
from conveyor_ingest.operator_models import QueuePauseOut
from conveyor_ingest.responses import ok

routes = ApiRoutes()


@routes.operation("POST", "/api/v1/queues/{queue}/pause", response=QueuePauseOut, errors=(422,))
async def pause(request: web.Request) -> web.Response:
    """Pause a queue: workers stop starting its tasks (every partition)."""
    principal = authorize(request, Scope.ADMIN, "queue.pause")
    queue = request.match_info["queue"]
    check_queue(request, queue)
    svc = services(request)
    now_ms = time.time_ns() // 1_000_000
    state, changed = await pause_queue(svc.client, svc.keys, queue, principal.subject, now_ms)
    return ok(QueuePauseOut.of(queue, state, changed=changed))


@routes.operation("POST", "/api/v1/queues/{queue}/resume", response=QueuePauseOut, errors=(422,))
async def resume(request: web.Request) -> web.Response:
    """Resume a paused queue: workers start its waiting tasks again."""
    authorize(request, Scope.ADMIN, "queue.resume")
    queue = request.match_info["queue"]
    check_queue(request, queue)
    svc = services(request)
    was_paused = await resume_queue(svc.client, svc.keys, queue)
    return ok(QueuePauseOut.of(queue, None, changed=was_paused))
