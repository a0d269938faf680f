"""From a validated request to stored tasks: envelopes, due times, Idempotency-Key replies.

Shared by POST /tasks, POST /tasks/batch and POST /events. The logic is the library's
write path (``conveyor.producing``, shared with the direct client); this module reads
the request, calls it, and turns its errors and stored answers into responses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from aiohttp import web

from conveyor.errors import InvalidTaskError
from conveyor.producing import tasks as producing
from conveyor.producing.tasks import (
    Idempotency,
    NewTask,
    Stored,
    check_idempotency_key,
    effect_key,
    fingerprint,
    now_ms,
    route_tasks,
    status_of,
)
from conveyor.producing.tasks import (
    accepted as accepted,  # re-exported: routes answer with it
)
from conveyor.producing.writes import producer_spans
from conveyor_ingest.auth import Principal
from conveyor_ingest.context import Services, services
from conveyor_ingest.models import TaskOptions, TaskRequest
from conveyor_ingest.responses import ApiError, RawJson, body_text, raw, unprocessable

IDEMPOTENCY_HEADER = "Idempotency-Key"


@contextmanager
def invalid_as_422() -> Iterator[None]:
    """The write path's InvalidTaskError answered as a 422 with its field errors."""
    try:
        yield
    except InvalidTaskError as exc:
        raise unprocessable(exc.message, exc.errors) from exc


def due_ms(request: web.Request, options: TaskOptions, loc: str) -> int | None:
    """When a delayed task is due (Unix ms), None for a task that runs now; 422 if too far."""
    limit = services(request).settings.max_delay
    with invalid_as_422():
        return producing.due_ms(options.delay, options.run_at, limit, now_ms(), loc)


@dataclass(slots=True)  # not frozen: made per request, and a frozen init costs twice as much
class TaskMaker:
    """What every task of one request shares, read from the request once."""

    request: web.Request
    subject: str
    origin: str
    key: str | None  # the Idempotency-Key header (effect_key ignores an invalid one)
    traceparent: str
    tracestate: str

    @classmethod
    def of(cls, request: web.Request, principal: Principal, origin: str) -> TaskMaker:
        """The request's shared task attributes."""
        headers = request.headers
        return cls(
            request=request,
            subject=principal.subject,
            origin=origin,
            key=headers.get(IDEMPOTENCY_HEADER),
            traceparent=headers.get("traceparent", ""),
            tracestate=headers.get("tracestate", ""),
        )

    def make(self, task: TaskRequest, loc: str = "body", index: int | None = None) -> NewTask:
        """The NewTask of a validated request item (``index``: its place in a batch)."""
        effect = effect_key(self.subject, self.key, index)
        with invalid_as_422():
            created = producing.new_task(
                task.type,
                task.payload,
                task.queue,
                subject=self.subject,
                origin=self.origin,
                max_attempts=task.max_attempts,
                timeout=task.timeout,
                partition_key=task.partition_key,
                priority=task.priority,
                idempotency_key=effect,
                traceparent=self.traceparent,
                tracestate=self.tracestate,
                loc=loc,
            )
        if task.delay is None and task.run_at is None:
            return created  # the common case: no due-time arithmetic
        return replace(created, due_ms=due_ms(self.request, task, loc))


def new_task(
    request: web.Request,
    task: TaskRequest,
    principal: Principal,
    origin: str,
    loc: str = "body",
    index: int | None = None,
) -> NewTask:
    """The NewTask of a validated request item (``index``: its place in a batch)."""
    return TaskMaker.of(request, principal, origin).make(task, loc, index)


def idempotency(request: web.Request, principal: Principal, body: bytes) -> Idempotency | None:
    """The request's Idempotency-Key (scoped to the client), if it sent one."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    with invalid_as_422():
        check_idempotency_key(key, IDEMPOTENCY_HEADER)
    return Idempotency(principal.subject, key, fingerprint(request.path, body))


async def store_tasks(
    request: web.Request,
    queue: str,
    tasks: Sequence[NewTask],
    idem: Idempotency | None,
    response_data: object,
    trace_parents: Mapping[str, tuple[str, str]] | None = None,
) -> web.Response:
    """Enqueue ``tasks`` on ``queue`` and answer 202, or replay a stored answer.

    Each partition's tasks are written by one atomic script; a request spanning
    partitions is atomic per partition, so an Idempotency-Key needs one partition.
    ``trace_parents`` (task id -> traceparent, tracestate) names the parent of a task's
    PRODUCER span when it is not the request's (a CloudEvent's own trace context).
    """
    text = body_text(202, response_data)
    svc = services(request)
    with invalid_as_422():
        by_shard = route_tasks(svc.keys, queue, tasks, idem, IDEMPOTENCY_HEADER)
    stored = None
    for shard, shard_tasks_ in by_shard.items():
        if svc.tracing:
            stored = await _traced_enqueue(svc, shard, shard_tasks_, idem, text, trace_parents)
        else:
            stored = await svc.store.enqueue(shard, shard_tasks_, idem, (202, text))
    if stored is None:
        svc.metrics.count_accepted(queue, len(tasks))
        return raw(text, 202)
    if idem is None or stored.fingerprint != idem.fingerprint:
        raise ApiError(422, f"{IDEMPOTENCY_HEADER} was already used with a different request body")
    response = raw(stored.text, stored.status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


async def _traced_enqueue(
    svc: Services,
    shard: str,
    tasks: list[NewTask],
    idem: Idempotency | None,
    text: str,
    trace_parents: Mapping[str, tuple[str, str]] | None = None,
) -> Stored | None:
    """``store.enqueue`` inside the tasks' PRODUCER spans."""
    with producer_spans(svc.keys.queue(shard), tasks, parents=trace_parents) as sent:
        return await svc.store.enqueue(shard, sent, idem, (202, text))


def accepted_json(task: NewTask) -> str:
    """``accepted(task)`` as JSON text: ids, queue names and statuses need no escaping."""
    env = task.envelope
    return f'{{"id":"{env.id}","queue":"{env.queue}","status":"{status_of(task)}"}}'


def batch_json(created: Sequence[NewTask]) -> RawJson:
    """``data`` of a batch's 202: ``{"accepted": n, "items": [{"index", ...accepted}]}``."""
    items = ",".join(
        f'{{"index":{index:d},"id":"{task.envelope.id}","queue":"{task.envelope.queue}",'
        f'"status":"{status_of(task)}"}}'
        for index, task in enumerate(created)
    )
    return RawJson(f'{{"accepted":{len(created):d},"items":[{items}]}}')
