"""POST /api/v1/tasks/batch: many tasks, validated all before any is written."""

from __future__ import annotations

from collections import defaultdict

from aiohttp import web

from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, check_queue, read_model, services
from conveyor_ingest.intake import (
    IDEMPOTENCY_HEADER,
    TaskMaker,
    batch_json,
    idempotency,
    store_tasks,
)
from conveyor_ingest.models import BatchAccepted, BatchRequest
from conveyor_ingest.operations import IDEMPOTENCY_KEY, ApiRoutes
from conveyor_ingest.responses import unprocessable
from conveyor_ingest.store import NewTask

routes = ApiRoutes()


@routes.operation(
    "POST", "/api/v1/tasks/batch", request=BatchRequest, response=BatchAccepted, status=202,
    headers=(IDEMPOTENCY_KEY,), errors=(429,),
)  # fmt: skip
async def post_batch(request: web.Request) -> web.Response:
    """Enqueue many tasks.

    Up to CONVEYOR_INGEST_MAX_BATCH tasks, all validated before any is written; one
    script per queue partition, per-item results.
    """
    principal = authorize(request, Scope.TASKS_WRITE, "task.batch")
    svc = services(request)
    await svc.limiter.check(principal.subject, principal.tier)
    batch, body = await read_model(request, BatchRequest)
    limit = svc.settings.max_batch
    if len(batch.tasks) > limit:
        message = f"at most {limit} tasks per batch, got {len(batch.tasks)}"
        msg = "batch too large"
        raise unprocessable(msg, [{"loc": "tasks", "msg": message}])
    by_queue: dict[str, list[NewTask]] = defaultdict(list)
    created: list[NewTask] = []
    maker = TaskMaker.of(request, principal, "batch")
    queues = svc.redis_settings.queues
    for index, item in enumerate(batch.tasks):
        if item.queue not in queues:
            check_queue(request, item.queue, f"tasks.{index}.queue")  # raises the 422
        task = maker.make(item, f"tasks.{index}", index)
        by_queue[item.queue].append(task)
        created.append(task)
    idem = idempotency(request, principal, body)
    if idem is not None and len(by_queue) > 1:
        message = "a batch with an Idempotency-Key must target one queue"
        msg = "invalid batch"
        raise unprocessable(msg, [{"loc": IDEMPOTENCY_HEADER, "msg": message}])
    for queue, tasks in by_queue.items():
        await svc.backlog.check(queue, len(tasks))
    data = batch_json(created)
    response: web.Response | None = None
    for queue, tasks in by_queue.items():
        response = await store_tasks(request, queue, tasks, idem, data)
    assert response is not None  # noqa: S101 - the model requires at least one task
    return response
