"""From a validated request to stored tasks: envelopes, due times, Idempotency-Key replies.

Shared by POST /tasks, POST /tasks/batch, POST /events and dead-letter replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiohttp import web

from conveyor.envelope import new_envelope
from conveyor.errors import EnvelopeEncodeError
from conveyor.keys import Keys, request_scope
from conveyor.telemetry.spans import parented_send_spans, send_spans
from conveyor_ingest.auth import Principal
from conveyor_ingest.context import Services, services
from conveyor_ingest.models import TaskOptions, TaskRequest, TaskStatus
from conveyor_ingest.responses import ApiError, RawJson, body_text, raw, unprocessable
from conveyor_ingest.store import Idempotency, NewTask, Stored, fingerprint, now_ms

IDEMPOTENCY_HEADER = "Idempotency-Key"
PENDING = TaskStatus.PENDING.value
SCHEDULED = TaskStatus.SCHEDULED.value
MAX_KEY_LENGTH = 200


def due_ms(request: web.Request, options: TaskOptions, loc: str) -> int | None:
    """When a delayed task is due (Unix ms), None for a task that runs now; 422 if too far."""
    limit = services(request).settings.max_delay
    if options.delay is not None:
        seconds = options.delay
    elif options.run_at is not None:
        seconds = (options.run_at - datetime.now(UTC)).total_seconds()
    else:
        return None
    if seconds > limit:
        message = f"the task would wait more than the {limit:.0f} s allowed"
        msg = "task is delayed too long"
        raise unprocessable(msg, [{"loc": loc, "msg": message}])
    if seconds <= 0:
        return None
    return now_ms() + int(seconds * 1000)


@dataclass(slots=True)  # not frozen: made per request, and a frozen init costs twice as much
class TaskMaker:
    """What every task of one request shares, read from the request once."""

    request: web.Request
    subject: str
    origin: str
    subject_key: tuple[str, str] | None  # (subject, Idempotency-Key) with a (valid) header
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
            subject_key=_subject_key(request, principal),
            traceparent=headers.get("traceparent", ""),
            tracestate=headers.get("tracestate", ""),
        )

    def make(self, task: TaskRequest, loc: str = "body", index: int | None = None) -> NewTask:
        """The NewTask of a validated request item (``index``: its place in a batch)."""
        effect = "" if self.subject_key is None else request_scope(*self.subject_key, index)
        try:
            envelope = new_envelope(
                task.type,
                task.payload,
                task.queue,
                source="/api/v1",
                max_attempts=task.max_attempts,
                timeout=task.timeout,
                subject=self.subject,
                origin=self.origin,
                idempotency_key=effect,
                traceparent=self.traceparent,
                tracestate=self.tracestate,
                partition_key=task.partition_key or "",
            )
        except EnvelopeEncodeError as exc:
            msg = "task is invalid"
            raise unprocessable(msg, [{"loc": loc, "msg": str(exc)}]) from exc
        if task.delay is None and task.run_at is None:
            return NewTask(envelope=envelope)  # the common case: no due-time arithmetic
        return NewTask(envelope=envelope, due_ms=due_ms(self.request, task, loc))


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


def _subject_key(request: web.Request, principal: Principal) -> tuple[str, str] | None:
    """What a task's effects are deduplicated by, with ``request_scope``: the client's
    subject and its Idempotency-Key (and a batch item's index).

    Without a (valid) header the worker uses the task id; an invalid header is refused
    by ``idempotency()`` before anything is written.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key or "{" in key or "}" in key:
        return None
    return principal.subject, key


def idempotency(request: web.Request, principal: Principal, body: bytes) -> Idempotency | None:
    """The request's Idempotency-Key (scoped to the client), if it sent one."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or "{" in key or "}" in key:
        message = f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} printable characters, no braces"
        msg = "invalid header"
        raise unprocessable(msg, [{"loc": IDEMPOTENCY_HEADER, "msg": message}])
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
    by_shard = shard_tasks(svc.keys, queue, tasks, idem)
    if idem is not None and len(by_shard) > 1:
        message = "with an Idempotency-Key, give every task one partition_key (or none)"
        msg = "request spans partitions"
        raise unprocessable(msg, [{"loc": IDEMPOTENCY_HEADER, "msg": message}])
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


def shard_tasks(
    keys: Keys, queue: str, tasks: Sequence[NewTask], idem: Idempotency | None
) -> dict[str, list[NewTask]]:
    """``tasks`` grouped by the shard (partition) each one goes to, by shard name.

    A task with a partition_key goes to that key's partition. The tasks of one
    request without one share a partition picked by the Idempotency-Key (so a
    retried request finds its stored answer) or else by the first task's id (so
    requests spread over the partitions).
    """
    if keys.partition_count(queue) == 1:
        return {queue: list(tasks)}
    spread = request_scope(idem.subject, idem.key) if idem else tasks[0].envelope.id
    by_shard: dict[str, list[NewTask]] = {}
    for task in tasks:
        shard = keys.route(queue, task.envelope.partition_key or spread).shard
        by_shard.setdefault(shard, []).append(task)
    return by_shard


async def _traced_enqueue(
    svc: Services,
    shard: str,
    tasks: list[NewTask],
    idem: Idempotency | None,
    text: str,
    trace_parents: Mapping[str, tuple[str, str]] | None = None,
) -> Stored | None:
    """``store.enqueue`` inside the tasks' PRODUCER spans."""
    qk = svc.keys.queue(shard)
    streams = [qk.tasks if task.due_ms is None else qk.timers_in for task in tasks]
    envelopes_ = [task.envelope for task in tasks]
    if trace_parents:
        parents = [trace_parents.get(env.id, ("", "")) for env in envelopes_]
        sends = parented_send_spans(streams, envelopes_, parents)
    else:
        sends = send_spans(streams, envelopes_)
    with sends as envelopes:
        # Each envelope carries its producer span's context.
        sent = [replace(t, envelope=e) for t, e in zip(tasks, envelopes, strict=True)]
        return await svc.store.enqueue(shard, sent, idem, (202, text))


def accepted(task: NewTask) -> dict[str, str]:
    """``data`` of a 202 for one task."""
    return {"id": task.envelope.id, "queue": task.envelope.queue, "status": _status(task)}


def _status(task: NewTask) -> str:
    """The status a task is accepted with: pending, or scheduled when it is delayed."""
    return PENDING if task.due_ms is None else SCHEDULED


def accepted_json(task: NewTask) -> str:
    """``accepted(task)`` as JSON text: ids, queue names and statuses need no escaping."""
    env = task.envelope
    return f'{{"id":"{env.id}","queue":"{env.queue}","status":"{_status(task)}"}}'


def batch_json(created: Sequence[NewTask]) -> RawJson:
    """``data`` of a batch's 202: ``{"accepted": n, "items": [{"index", ...accepted}]}``."""
    items = ",".join(
        f'{{"index":{index:d},"id":"{task.envelope.id}","queue":"{task.envelope.queue}",'
        f'"status":"{_status(task)}"}}'
        for index, task in enumerate(created)
    )
    return RawJson(f'{{"accepted":{len(created):d},"items":[{items}]}}')
