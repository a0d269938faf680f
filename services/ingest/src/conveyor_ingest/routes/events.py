"""POST /api/v1/events: CloudEvents 1.0 over HTTP, structured and binary mode, as tasks.

The event's ``type`` becomes the task type and its ``data`` the payload; the
``queue`` extension attribute (``ce-queue`` in binary mode) picks the queue, and
the ``partitionkey`` extension (``ce-partitionkey``) the partition key.
The event's ``source`` and ``id`` are kept: ``source`` on the envelope, and
``<source>#<id>`` as the task's effect idempotency key, so a re-delivered event
does not repeat its effects.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from aiohttp import web
from pydantic import Field, JsonValue

from conveyor_ingest.auth import Scope
from conveyor_ingest.context import (
    authorize,
    check_queue,
    parse_model,
    read_body,
    read_json_object,
    services,
)
from conveyor_ingest.intake import accepted, idempotency, new_task, store_tasks
from conveyor_ingest.models import Accepted, StrictModel, TaskRequest
from conveyor_ingest.operations import IDEMPOTENCY_KEY, ApiRoutes
from conveyor_ingest.responses import ApiError
from conveyor_ingest.store import NewTask

STRUCTURED = "application/cloudevents+json"

routes = ApiRoutes()


class CloudEvent(StrictModel):
    """The CloudEvents 1.0 attributes Conveyor reads (plus the ``queue`` extension)."""

    specversion: str = Field(pattern=r"^1\.0$")
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str
    datacontenttype: str | None = Field(default=None, pattern=r"^application/(.+\+)?json")
    time: str | None = None
    subject: str | None = None
    dataschema: str | None = None
    data: JsonValue = None
    queue: str = "default"
    partitionkey: str | None = None  # the CloudEvents "partitioning" extension


def _binary(request: web.Request, body: bytes) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        name[3:].lower(): value
        for name, value in request.headers.items()
        if name.lower().startswith("ce-")
    }
    if not request.content_type.endswith("json"):
        raise ApiError(415, "binary-mode events need a JSON content type")
    try:
        attributes["data"] = json.loads(body) if body else None
    except ValueError as exc:
        raise ApiError(400, "request body is not valid JSON") from exc
    return attributes


@routes.operation(
    "POST", "/api/v1/events", request=CloudEvent, body_types=(STRUCTURED,),
    also_accepts=("application/json", "application/*+json"), response=Accepted, status=202,
    headers=(IDEMPOTENCY_KEY,), errors=(429,),
)  # fmt: skip
async def post_event(request: web.Request) -> web.Response:
    """Accept a CloudEvent.

    As a task, answered like POST /api/v1/tasks. Structured mode (this body), or binary
    mode: ``ce-*`` headers and the data as a JSON body.
    """
    principal = authorize(request, Scope.TASKS_WRITE, "event.create")
    svc = services(request)
    await svc.limiter.check(principal.subject)
    body = await read_body(request)
    if request.content_type == STRUCTURED:
        raw_event = read_json_object(body)
    else:
        raw_event = _binary(request, body)
    event = parse_model(CloudEvent, raw_event)
    task = parse_model(
        TaskRequest,
        {
            "type": event.type,
            "payload": event.data,
            "queue": event.queue,
            "partition_key": event.partitionkey,
        },
    )
    check_queue(request, task.queue)
    await svc.backlog.check(task.queue)
    made = new_task(request, task, principal, "cloudevents")
    envelope = replace(
        made.envelope, source=event.source, idempotency_key=f"{event.source}#{event.id}"
    )
    created = NewTask(envelope=envelope, due_ms=made.due_ms)
    idem = idempotency(request, principal, body)
    return await store_tasks(request, task.queue, [created], idem, accepted(created))
