"""POST /api/v1/events: CloudEvents 1.0 over HTTP, in structured, binary and batch mode.

The content mode follows from the Content-Type (http-protocol-binding.md section 3):
``application/cloudevents+json`` is one event in the JSON format,
``application/cloudevents-batch+json`` a JSON array of them, anything else binary mode
(``ce-`` headers, the body is the data). Each event becomes a task: its ``type`` is the
task type and its data the payload; the ``queue`` extension picks the queue and the
``partitionkey`` extension the partition key; ``source`` goes on the envelope and
``event_scope(source, id)`` is the task's effect idempotency key, so a re-delivered event does not
repeat its effects. Its other attributes (extensions included) travel on the task as
``event_attributes``; its ``traceparent``/``tracestate`` (the Distributed Tracing
extension) are the parent of the task's span. The rules live in event_models.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from aiohttp import web

from conveyor import jsoncodec
from conveyor.envelope import encode_event_attributes
from conveyor.errors import JsonNumberError
from conveyor.keys import event_scope
from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, check_queue, parse_model, read_body, services
from conveyor_ingest.event_models import (
    CloudEvent,
    ContentMode,
    EventError,
    EventTask,
    binary_task,
    content_mode,
    event_task,
    header_attributes,
    trace_parent,
    validate_event,
)
from conveyor_ingest.intake import (
    IDEMPOTENCY_HEADER,
    TaskMaker,
    accepted,
    batch_json,
    idempotency,
    store_tasks,
)
from conveyor_ingest.models import Accepted, TaskRequest
from conveyor_ingest.operations import IDEMPOTENCY_KEY, ApiRoutes
from conveyor_ingest.responses import ApiError, body_text, raw, unprocessable
from conveyor_ingest.store import NewTask

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"

routes = ApiRoutes()


@routes.operation(
    "POST", "/api/v1/events", request=CloudEvent, body_types=(STRUCTURED,),
    also_accepts=(BATCH, "*/*"), response=Accepted, status=202, headers=(IDEMPOTENCY_KEY,),
    errors=(429,),
)  # fmt: skip
async def post_event(request: web.Request) -> web.Response:
    """Accept a CloudEvent (or a batch of them).

    As a task, answered like POST /api/v1/tasks. Structured mode (this body); batch mode
    (``application/cloudevents-batch+json``, a JSON array of such events, answered like
    POST /api/v1/tasks/batch); or binary mode: ``ce-*`` headers and the data as the body.
    """
    principal = authorize(request, Scope.TASKS_WRITE, "event.create")
    svc = services(request)
    await svc.limiter.check(principal.subject, principal.tier)
    body = await read_body(request)
    mode = content_mode(request.headers.get("Content-Type", ""))
    try:
        if mode is ContentMode.BATCH:
            items = _batch(request, body, svc.settings.max_batch)
        elif mode is ContentMode.STRUCTURED:
            items = [_structured(request, body)]
        else:
            items = [_binary(request, body)]
    except EventError as exc:
        msg = "event is invalid"
        raise unprocessable(msg, exc.errors) from exc
    if not items:  # http-protocol-binding.md 3.3.2: a batch MAY be empty
        return raw(body_text(202, batch_json([]), "accepted"), 202)
    maker = TaskMaker.of(request, principal, "cloudevents")
    is_batch = mode is ContentMode.BATCH
    made = [_task(request, maker, item, str(i) if is_batch else "") for i, item in enumerate(items)]
    created = [task for task, _ in made]
    parents = {task.envelope.id: parent for task, parent in made if parent is not None}
    by_queue: dict[str, list[NewTask]] = defaultdict(list)
    for task in created:
        by_queue[task.envelope.queue].append(task)
    idem = idempotency(request, principal, body)
    if idem is not None and len(by_queue) > 1:
        message = "a batch with an Idempotency-Key must target one queue"
        msg = "invalid batch"
        raise unprocessable(msg, [{"loc": IDEMPOTENCY_HEADER, "msg": message}])
    for queue, tasks in by_queue.items():
        await svc.backlog.check(queue, len(tasks))
    data: Any = batch_json(created) if is_batch else accepted(created[0])
    response: web.Response | None = None
    for queue, tasks in by_queue.items():
        response = await store_tasks(request, queue, tasks, idem, data, parents)
    assert response is not None  # noqa: S101 - items is not empty
    return response


def _json(body: bytes) -> Any:
    try:
        return jsoncodec.loads(body or b"null")
    except JsonNumberError as exc:
        raise EventError([{"loc": exc.loc("body"), "msg": str(exc)}]) from exc
    except ValueError as exc:
        raise ApiError(400, "request body is not valid JSON") from exc


def _structured(request: web.Request, body: bytes) -> EventTask:
    if request.content_type.lower() != STRUCTURED:
        # http-protocol-binding.md 3.2.1: the Content-Type names the event format.
        raise ApiError(415, f"event format {request.content_type!r} is not supported; "
                            f"use {STRUCTURED} (or {BATCH})")  # fmt: skip
    return event_task(validate_event(_json(body)))


def _batch(request: web.Request, body: bytes, limit: int) -> list[EventTask]:
    if request.content_type.lower() != BATCH:
        raise ApiError(415, f"batch format {request.content_type!r} is not supported; use {BATCH}")
    events = _json(body)
    if not isinstance(events, list):
        # json-format.md 4.1: the outermost element is a JSON array.
        raise EventError([{"loc": "body", "msg": "a batch is a JSON array of events"}])
    if len(events) > limit:
        raise EventError([{"loc": "body", "msg": f"at most {limit} events per batch"}])
    items: list[EventTask] = []
    errors: list[dict[str, str]] = []
    for index, raw_event in enumerate(events):
        try:
            items.append(event_task(validate_event(raw_event, str(index)), str(index)))
        except EventError as exc:
            errors += exc.errors  # every item's errors, not only the first item's
    if errors:
        raise EventError(errors)
    return items


def _binary(request: web.Request, body: bytes) -> EventTask:
    attributes = header_attributes(request.headers)
    if "datacontenttype" in attributes:
        # http-protocol-binding.md 3.1.1: Content-Type carries it; the header MUST NOT be sent.
        message = "binary mode carries datacontenttype in Content-Type, not in a ce- header"
        raise EventError([{"loc": "ce-datacontenttype", "msg": message}])
    if "data" in attributes:
        # 3.1.2: the body is the data (and spec.md reserves the name data).
        raise EventError([{"loc": "ce-data", "msg": "binary mode carries data in the body"}])
    event: CloudEvent = validate_event(attributes, header_names=True)
    content_type = request.headers.get("Content-Type")
    return binary_task(event, content_type, body)


def _task(
    request: web.Request, maker: TaskMaker, item: EventTask, loc: str
) -> tuple[NewTask, tuple[str, str] | None]:
    """The task of one event, and the event's own trace parent if it carries one."""
    event = item.event
    fields = {"type": event.type, "payload": item.payload, "queue": event.queue,
              "partition_key": event.partitionkey,
              "priority": event.priority or "normal"}  # fmt: skip
    task = parse_model(TaskRequest, fields)
    check_queue(request, task.queue, f"{loc}.queue" if loc else "queue")
    made = maker.make(task, loc or "body")
    envelope = replace(
        made.envelope,
        source=event.source,
        idempotency_key=event_scope(event.source, event.id),
        event_attributes=encode_event_attributes(item.attributes),
    )
    parent = trace_parent(event)
    if parent is not None:
        # extensions/distributed-tracing.md: the event carries the trace it started in;
        # the task continues that trace (its span's parent is the event's context).
        envelope = replace(envelope, traceparent=parent[0], tracestate=parent[1])
    return NewTask(envelope=envelope, due_ms=made.due_ms), parent
