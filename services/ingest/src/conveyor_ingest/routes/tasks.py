"""/api/v1/tasks: create, read (with ?wait=), list, change and cancel tasks."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from conveyor.envelope import TaskEnvelope
from conveyor.keys import QueueKeys
from conveyor.producing.tasks import now_ms, task_changes
from conveyor.records import view
from conveyor.telemetry.spans import send_spans
from conveyor_ingest.auth import Principal, Scope
from conveyor_ingest.context import authorize, check_queue, read_model, services
from conveyor_ingest.intake import accepted_json, idempotency, invalid_as_422, new_task, store_tasks
from conveyor_ingest.models import (
    Accepted,
    TaskListQuery,
    TaskPage,
    TaskRequest,
    TaskStatus,
    TaskUpdate,
    TaskView,
    WaitQuery,
)
from conveyor_ingest.operations import IDEMPOTENCY_KEY, ApiRoutes, link_to, read_query
from conveyor_ingest.readmodel import ListQuery, find_record, find_shard_record, list_tasks
from conveyor_ingest.responses import ApiError, RawJson, dumps, ok, unprocessable

FINAL = {TaskStatus.SUCCEEDED.value, TaskStatus.DEAD.value, TaskStatus.CANCELLED.value}
WAIT_POLL_S = 0.1

routes = ApiRoutes()
# Any id but "batch", so /api/v1/tasks/batch is one resource (its 405 lists POST only).
TASK = "/api/v1/tasks/{task_id:(?!batch$)[^/]+}"


# Not to delete_task: DELETE cancels, and a cancelled task stays readable (status
# cancelled), where a link would tell clients (and schemathesis) it is gone.
TASK_LINKS = link_to("get_task", "put_task", "task_events", task_id="$response.body#/data/id")


@routes.operation(
    "POST", "/api/v1/tasks", request=TaskRequest, response=Accepted, status=202,
    headers=(IDEMPOTENCY_KEY,), errors=(429,), links=TASK_LINKS,
)  # fmt: skip
async def post_task(request: web.Request) -> web.Response:
    """Enqueue a task.

    Answers 202 once Redis has it.
    """
    principal = authorize(request, Scope.TASKS_WRITE, "task.create")
    svc = services(request)
    await svc.limiter.check(principal.subject, principal.tier)
    task, body = await read_model(request, TaskRequest)
    check_queue(request, task.queue)
    await svc.backlog.check(task.queue)
    created = new_task(request, task, principal, "api")
    idem = idempotency(request, principal, body)
    return await store_tasks(request, task.queue, [created], idem, RawJson(accepted_json(created)))


async def _record(request: web.Request, principal: Principal) -> dict[bytes, bytes]:
    return (await _shard_record(request, principal))[1]


async def _shard_record(
    request: web.Request, principal: Principal
) -> tuple[QueueKeys, dict[bytes, bytes]]:
    task_id = request.match_info["task_id"]
    svc = services(request)
    found = await find_shard_record(svc.client, svc.keys, task_id)
    if found is None or not _visible(found[1], principal):
        raise ApiError(404, f"task {task_id!r} not found (or expired from the read model)")
    return found


def _visible(record: dict[bytes, bytes], principal: Principal) -> bool:
    return principal.is_admin or record.get(b"subject", b"").decode() == principal.subject


@routes.operation("GET", TASK, query=WaitQuery, response=TaskView)
async def get_task(request: web.Request) -> web.Response:
    """Read a task.

    ``?wait=S`` holds the answer until the task finishes or S seconds pass.
    """
    principal = authorize(request, Scope.TASKS_READ, "task.read")
    wait = read_query(request, WaitQuery).wait
    limit = int(services(request).settings.max_wait)
    if wait > limit:
        msg = "invalid query parameter"
        raise unprocessable(msg, [{"loc": "wait", "msg": f"must be at most {limit} seconds"}])
    record = await _record(request, principal)
    deadline = time.monotonic() + wait
    # Polling the record server-side: any ingest process may be the one that applies the event.
    while record.get(b"status", b"").decode() not in FINAL and time.monotonic() < deadline:
        await asyncio.sleep(WAIT_POLL_S)
        record = await _record(request, principal)
    return ok(view(record))


@routes.operation("GET", TASK + "/events", media_type="text/event-stream", response=TaskView)
async def task_events(request: web.Request) -> web.StreamResponse:
    """Follow a task (server-sent events).

    An ``event: status`` with the task's view on every change, until it finishes (or
    CONVEYOR_INGEST_MAX_WAIT passes).
    """
    principal = authorize(request, Scope.TASKS_READ, "task.events")
    record: dict[bytes, bytes] | None = await _record(request, principal)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    deadline = time.monotonic() + services(request).settings.max_wait
    last: dict[str, object] | None = None
    while record is not None:
        shown = view(record)
        if shown != last:
            await response.write(f"event: status\ndata: {dumps(shown)}\n\n".encode())
            last = shown
        if shown["status"] in FINAL or time.monotonic() >= deadline:
            break
        await asyncio.sleep(WAIT_POLL_S)
        svc = services(request)
        record = await find_record(svc.client, svc.keys, request.match_info["task_id"])
    await response.write_eof()
    return response


@routes.operation("GET", "/api/v1/tasks", query=TaskListQuery, response=TaskPage)
async def get_tasks(request: web.Request) -> web.Response:
    """List tasks.

    Newest first, filtered by queue, status and type; paged by ``cursor``.
    """
    principal = authorize(request, Scope.TASKS_READ, "task.list")
    svc = services(request)
    wanted = read_query(request, TaskListQuery)
    if wanted.queue is not None:
        check_queue(request, wanted.queue)
    query = ListQuery(
        queues=(wanted.queue,) if wanted.queue else svc.redis_settings.queues,
        status=wanted.status,
        type=wanted.type,
        subject=None if principal.is_admin else principal.subject,
        limit=wanted.limit,
        cursor=wanted.cursor,
    )
    try:
        page = await list_tasks(svc.client, svc.keys, query)
    except ValueError as exc:
        message = "not a next_cursor of an earlier page; omit it to start from the newest task"
        msg = "invalid query parameter"
        raise unprocessable(msg, [{"loc": "cursor", "msg": message}]) from exc
    return ok(page)


@routes.operation("PUT", TASK, request=TaskUpdate, response=Accepted, status=202, errors=(409,))
async def put_task(request: web.Request) -> web.Response:
    """Change an unstarted task.

    Payload, due time and options of a task that has not started; 409 once it has.

    One atomic step bumps the record's revision and sends a replace on the control
    stream. The scheduler applies it to the task's pending timer; if the timer was
    promoted (or not filed yet), the worker that takes the task applies it at the
    start. If a worker started the task first, the change is not applied and the read
    model shows ``change_rejected``. Either way the 202 is never silently lost.
    """
    principal = authorize(request, Scope.TASKS_WRITE, "task.update")
    change, _ = await read_model(request, TaskUpdate)
    shard, record = await _shard_record(request, principal)
    status = record.get(b"status", b"").decode()
    if status not in (TaskStatus.PENDING.value, TaskStatus.SCHEDULED.value):
        raise ApiError(409, f"task is {status}: only a task that has not started can be changed")
    svc = services(request)
    task_id = request.match_info["task_id"]
    queue = record[b"queue"].decode()
    given = {name: getattr(change, name) for name in change.model_fields_set}
    now = now_ms()
    with invalid_as_422():
        changes = task_changes(given, svc.settings.max_delay, now)
    until = now + int(svc.settings.max_delay * 1000)
    # A PRODUCER span for the replace, linked to the trace the task was sent in.
    with send_spans([shard.control], [_traced(task_id, queue, record)], link_existing=True):
        outcome, revision = await svc.store.replace(shard.shard, task_id, changes, until)
    if outcome != "ok":
        raise ApiError(409, f"task is {outcome}: only a task that has not started can be changed")
    return ok(Accepted(id=task_id, queue=queue, status=TaskStatus(status), revision=revision), 202)


def _traced(task_id: str, queue: str, record: dict[bytes, bytes]) -> TaskEnvelope:
    """The task as its span needs it: id, type, queue and the traceparent it was sent with."""
    return TaskEnvelope(
        id=task_id,
        type=record.get(b"type", b"").decode(),
        queue=queue,
        attempt=int(record.get(b"attempt", b"1")),
        traceparent=record.get(b"traceparent", b"").decode(),
    )


@routes.operation("DELETE", TASK, response=Accepted, status=202, errors=(409,))
async def delete_task(request: web.Request) -> web.Response:
    """Cancel a task.

    Only a task that has not started (pending or scheduled); 409 once it has.
    """
    principal = authorize(request, Scope.TASKS_WRITE, "task.cancel")
    shard, record = await _shard_record(request, principal)
    queue = record[b"queue"].decode()
    task_id = request.match_info["task_id"]
    svc = services(request)
    until = now_ms() + int(svc.settings.max_delay * 1000)
    outcome = await svc.store.cancel(shard.shard, task_id, until)
    if outcome not in ("ok", TaskStatus.CANCELLED.value):
        raise ApiError(409, f"task is {outcome}: only a pending or scheduled task can be cancelled")
    return ok(Accepted(id=task_id, queue=queue, status=TaskStatus.CANCELLED), 202)
