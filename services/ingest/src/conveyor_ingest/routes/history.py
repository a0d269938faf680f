"""GET /api/v1/queues/{queue}/history: the last hour of a queue, per minute. Admin scope."""

from __future__ import annotations

from aiohttp import web

from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, check_queue, services
from conveyor_ingest.history import Minute, read_history
from conveyor_ingest.operations import ApiRoutes
from conveyor_ingest.operator_models import HistoryMinute, QueueHistory, ms_time
from conveyor_ingest.responses import ok
from conveyor_ingest.store import now_ms

routes = ApiRoutes()


@routes.operation("GET", "/api/v1/queues/{queue}/history", response=QueueHistory, errors=(422,))
async def queue_history(request: web.Request) -> web.Response:
    """A queue's last hour.

    Sixty minutes, oldest first, the current one last: what happened in each (enqueued,
    succeeded, retried, dead, cancelled) and the backlog and dead letters at its last
    sample. Sampled by one ingest process at a time (conveyor_ingest.history).
    """
    authorize(request, Scope.ADMIN, "queue.history")
    queue = request.match_info["queue"]
    check_queue(request, queue)
    svc = services(request)
    minutes = await read_history(svc.client, svc.keys, queue, now_ms())
    return ok(QueueHistory(queue=queue, minutes=[_view(m) for m in minutes]))


def _view(minute: Minute) -> HistoryMinute:
    return HistoryMinute.model_validate(
        {
            "minute": ms_time(minute.minute_ms),
            "counts": minute.counts,
            "backlog": minute.backlog,
            "dead_letters": minute.dead_letters,
        }
    )
