"""/api/v1/tasks: create, read (with ?wait=), list, change and cancel tasks."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

from aiohttp import web

from conveyor.envelope import decode_envelope
from conveyor.errors import EnvelopeDecodeError
from conveyor.keys import QueueKeys
from conveyor.telemetry.spans import send_spans
from conveyor_ingest.auth import Principal, Scope
from conveyor_ingest.context import (
    authorize,
    check_queue,
    query_int,
    read_model,
    services,
)
from conveyor_ingest.intake import accepted_json, due_ms, idempotency, new_task, store_tasks
from conveyor_ingest.models import TaskRequest, TaskStatus, TaskUpdate
from conveyor_ingest.readmodel import ListQuery, find_record, find_shard_record, list_tasks, view
from conveyor_ingest.responses import ApiError, RawJson, dumps, ok, unprocessable
from conveyor_ingest.store import NewTask, now_ms

FINAL = {TaskStatus.SUCCEEDED.value, TaskStatus.DEAD.value, TaskStatus.CANCELLED.value}
WAIT_POLL_S = 0.1

routes = web.RouteTableDef()


@routes.post("/api/v1/tasks")
async def post_task(request: web.Request) -> web.Response:
    """Enqueue one task; 202 once Redis has it."""
    principal = authorize(request, Scope.TASKS_WRITE, "task.create")
    svc = services(request)
    await svc.limiter.check(principal.subject)
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


@routes.get("/api/v1/tasks/{task_id}")
async def get_task(request: web.Request) -> web.Response:
    """A task's status; ``?wait=S`` holds the answer until it finishes or S seconds pass."""
    principal = authorize(request, Scope.TASKS_READ, "task.read")
    limit = int(services(request).settings.max_wait)
    wait = query_int(request, "wait", 0, 0, limit)
    record = await _record(request, principal)
    deadline = time.monotonic() + wait
    # Polling the record server-side: any ingest process may be the one that applies the event.
    while record.get(b"status", b"").decode() not in FINAL and time.monotonic() < deadline:
        await asyncio.sleep(WAIT_POLL_S)
        record = await _record(request, principal)
    return ok(view(record))


@routes.get("/api/v1/tasks/{task_id}/events")
async def task_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the task's view on every change, until it finishes (or max_wait)."""
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


@routes.get("/api/v1/tasks")
async def get_tasks(request: web.Request) -> web.Response:
    """Tasks newest first, filtered by queue, status and type; paged by cursor."""
    principal = authorize(request, Scope.TASKS_READ, "task.list")
    svc = services(request)
    queue = request.query.get("queue")
    if queue is not None:
        check_queue(request, queue)
    status = request.query.get("status")
    if status is not None and status not in set(TaskStatus):
        message = f"must be one of {', '.join(TaskStatus)}"
        msg = "invalid query parameter"
        raise unprocessable(msg, [{"loc": "status", "msg": message}])
    query = ListQuery(
        queues=(queue,) if queue else svc.redis_settings.queues,
        status=status,
        type=request.query.get("type"),
        subject=None if principal.is_admin else principal.subject,
        limit=query_int(request, "limit", 50, 1, 500),
        cursor=request.query.get("cursor"),
    )
    try:
        page = await list_tasks(svc.client, svc.keys, query)
    except ValueError as exc:
        msg = "invalid cursor"
        raise unprocessable(msg, [{"loc": "cursor", "msg": str(exc)}]) from exc
    return ok(page)


@routes.put("/api/v1/tasks/{task_id}")
async def put_task(request: web.Request) -> web.Response:
    """Change a task that has not started (payload, due time, options); 409 once it has."""
    principal = authorize(request, Scope.TASKS_WRITE, "task.update")
    change, _ = await read_model(request, TaskUpdate)
    shard, record = await _shard_record(request, principal)
    status = record.get(b"status", b"").decode()
    if status == TaskStatus.SCHEDULED.value and b"task" in record:
        return await _update_timer(request, change, shard, record)
    if status not in (TaskStatus.PENDING.value, TaskStatus.SCHEDULED.value):
        raise ApiError(409, f"task is {status}: only a task that has not started can be changed")
    return await _replace_entry(request, change, shard, record)


async def _update_timer(
    request: web.Request, change: TaskUpdate, shard: QueueKeys, record: dict[bytes, bytes]
) -> web.Response:
    """A delayed task still in the scheduler: the scheduler replaces its timer."""
    queue = record[b"queue"].decode()
    try:
        current = decode_envelope("put", json.loads(record[b"task"]), queue)
    except (EnvelopeDecodeError, ValueError) as exc:
        raise ApiError(409, "task cannot be changed: stored copy unreadable") from exc
    fields = change.model_fields_set
    updated = replace(
        current,
        data=json.dumps(change.payload) if "payload" in fields else current.data,
        max_attempts=change.max_attempts if "max_attempts" in fields else current.max_attempts,
        timeout=change.timeout if "timeout" in fields else current.timeout,
    )
    due = due_ms(request, change, "body")
    if due is None and not ({"delay", "run_at"} & fields):
        due = int(record.get(b"due_ms", b"0")) or None
    svc = services(request)
    # The changed timer goes through the control stream: a PRODUCER span linked to the task's trace.
    with send_spans([shard.control], [updated], link_existing=True) as (sent,):
        outcome = await svc.store.update(shard.shard, NewTask(sent, due))
    if outcome != "ok":
        raise ApiError(409, f"task is {outcome}: only a task that has not started can be changed")
    return ok({"id": updated.id, "queue": queue, "status": TaskStatus.SCHEDULED.value}, 202)


async def _replace_entry(
    request: web.Request, change: TaskUpdate, shard: QueueKeys, record: dict[bytes, bytes]
) -> web.Response:
    """A task on its task stream: the worker that takes it runs the changed task instead.

    Whether it is too late (a worker started it already) is decided by the worker, at
    the start; the read model then shows ``change_rejected``.
    """
    svc = services(request)
    task_id = request.match_info["task_id"]
    changes = _changes(request, change)
    until = now_ms() + int(svc.settings.max_delay * 1000)
    outcome, revision = await svc.store.replace(shard.shard, task_id, changes, until)
    if outcome != "ok":
        raise ApiError(409, f"task is {outcome}: only a task that has not started can be changed")
    status = record.get(b"status", b"").decode()
    data = {"id": task_id, "queue": record[b"queue"].decode(), "status": status}
    return ok({**data, "revision": revision}, 202)


def _changes(request: web.Request, change: TaskUpdate) -> dict[str, str]:
    """The PUT body as wire-field changes ("" removes an option or the due time)."""
    fields = change.model_fields_set
    changes: dict[str, str] = {}
    if "payload" in fields:
        changes["data"] = json.dumps(change.payload)
    if "max_attempts" in fields:
        changes["max_attempts"] = "" if change.max_attempts is None else str(change.max_attempts)
    if "timeout" in fields:
        changes["timeout"] = "" if change.timeout is None else repr(change.timeout)
    if {"delay", "run_at"} & fields:
        due = due_ms(request, change, "body")
        changes["due_ms"] = "" if due is None else str(due)
    return changes


@routes.delete("/api/v1/tasks/{task_id}")
async def delete_task(request: web.Request) -> web.Response:
    """Cancel a task that has not started; 409 once it has."""
    principal = authorize(request, Scope.TASKS_WRITE, "task.cancel")
    shard, record = await _shard_record(request, principal)
    queue = record[b"queue"].decode()
    task_id = request.match_info["task_id"]
    svc = services(request)
    until = now_ms() + int(svc.settings.max_delay * 1000)
    outcome = await svc.store.cancel(shard.shard, task_id, until)
    if outcome not in ("ok", TaskStatus.CANCELLED.value):
        raise ApiError(409, f"task is {outcome}: only a pending or scheduled task can be cancelled")
    return ok({"id": task_id, "queue": queue, "status": TaskStatus.CANCELLED.value}, 202)
