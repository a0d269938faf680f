"""New tasks as plain values: the envelope, the due time, idempotency keys, partitions.

What ingest's routes and the direct client both do before anything is written.
Bad input raises :class:`~conveyor.errors.InvalidTaskError` with the field path
(``loc``) the caller names, so ingest answers it as a 422 and the client raises it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conveyor import jsoncodec
from conveyor.envelope import TaskEnvelope, new_envelope
from conveyor.errors import EnvelopeEncodeError, InvalidTaskError, JsonNumberError
from conveyor.keys import Keys, request_scope
from conveyor.status import TaskStatus

MAX_IDEMPOTENCY_KEY = 200
DAY_S = 86_400.0
DEFAULT_MAX_DELAY = 30 * DAY_S  # ingest's CONVEYOR_INGEST_MAX_DELAY default
PENDING = TaskStatus.PENDING.value
SCHEDULED = TaskStatus.SCHEDULED.value


@dataclass(frozen=True, slots=True)
class NewTask:
    """A validated task and, for a delayed one, when it is due (Unix ms)."""

    envelope: TaskEnvelope
    due_ms: int | None = None
    replay_of: str = ""


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An idempotency key of one client (subject) and the fingerprint of its request."""

    subject: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Stored:
    """An answer stored under an idempotency key."""

    fingerprint: str
    status: int
    text: str


def now_ms() -> int:
    """Wall-clock Unix milliseconds."""
    return time.time_ns() // 1_000_000


def fingerprint(path: str, body: bytes) -> str:
    """What makes two requests with one idempotency key the same request."""
    return hashlib.sha256(path.encode() + b"\n" + body).hexdigest()


def due_ms(
    delay: float | None, run_at: datetime | None, max_delay: float, now: int, loc: str = "body"
) -> int | None:
    """When a delayed task is due (Unix ms), None for one that runs now; refused if too far."""
    if delay is not None:
        seconds = delay
    elif run_at is not None:
        seconds = run_at.timestamp() - now / 1000
    else:
        return None
    if seconds > max_delay:
        message = f"the task would wait more than the {max_delay:.0f} s allowed"
        msg = "task is delayed too long"
        raise InvalidTaskError(msg, [{"loc": loc, "msg": message}])
    if seconds <= 0:
        return None
    return now + int(seconds * 1000)


def valid_idempotency_key(key: str) -> bool:
    """Whether ``key`` can be an idempotency key: 1-200 printable characters, no braces."""
    short = 0 < len(key) <= MAX_IDEMPOTENCY_KEY
    return short and key.isprintable() and "{" not in key and "}" not in key


def check_idempotency_key(key: str, loc: str) -> None:
    """Refuse a key that cannot be stored (``loc`` names where it came from)."""
    if not valid_idempotency_key(key):
        message = f"{loc} must be 1-{MAX_IDEMPOTENCY_KEY} printable characters, no braces"
        msg = "invalid header"
        raise InvalidTaskError(msg, [{"loc": loc, "msg": message}])


def effect_key(subject: str, key: str | None, index: int | None = None) -> str:
    """What the worker deduplicates a task's effects by: ``request_scope`` of the client's
    subject, its key (and a batch item's index), escaped so no two clients share one.

    Without a (valid) key it is "": the worker then uses the task id.
    """
    if not key or "{" in key or "}" in key:
        return ""
    return request_scope(subject, key, index)


def new_task(
    task_type: str,
    payload: Any,
    queue: str,
    *,
    subject: str,
    origin: str,
    source: str = "/api/v1",
    max_attempts: int | None = None,
    timeout: float | None = None,
    partition_key: str | None = None,
    idempotency_key: str = "",
    traceparent: str = "",
    tracestate: str = "",
    due: int | None = None,
    loc: str = "body",
    priority: str = "",
) -> NewTask:
    """A task as it will be written (a UUIDv7 id, the wire envelope), due at ``due`` (ms)."""
    try:
        envelope = new_envelope(
            task_type,
            payload,
            queue,
            source=source,
            max_attempts=max_attempts,
            timeout=timeout,
            subject=subject,
            origin=origin,
            idempotency_key=idempotency_key,
            traceparent=traceparent,
            tracestate=tracestate,
            partition_key=partition_key or "",
            priority=priority,
        )
    except EnvelopeEncodeError as exc:
        msg = "task is invalid"
        raise InvalidTaskError(msg, [{"loc": loc, "msg": str(exc)}]) from exc
    if due is None:
        return NewTask(envelope=envelope)
    return NewTask(envelope=envelope, due_ms=due)


def route_tasks(
    keys: Keys, queue: str, tasks: Sequence[NewTask], idem: Idempotency | None, loc: str
) -> dict[str, list[NewTask]]:
    """``tasks`` grouped by the shard (partition) each one goes to, by shard name.

    A task with a partition_key goes to that key's partition. The tasks of one
    request without one share a partition picked by the idempotency key (so a
    retried request finds its stored answer) or else by the first task's id (so
    requests spread over the partitions). Writes are atomic per partition, so an
    idempotency key needs one partition (``loc`` names the key in the error).
    """
    if keys.partition_count(queue) == 1:
        return {queue: list(tasks)}
    spread = request_scope(idem.subject, idem.key) if idem else tasks[0].envelope.id
    by_shard: dict[str, list[NewTask]] = {}
    for task in tasks:
        shard = keys.route(queue, task.envelope.partition_key or spread).shard
        by_shard.setdefault(shard, []).append(task)
    if idem is not None and len(by_shard) > 1:
        message = "with an Idempotency-Key, give every task one partition_key (or none)"
        msg = "request spans partitions"
        raise InvalidTaskError(msg, [{"loc": loc, "msg": message}])
    return by_shard


def status_of(task: NewTask) -> str:
    """The status a task is accepted with: pending, or scheduled when it is delayed."""
    return PENDING if task.due_ms is None else SCHEDULED


def accepted(task: NewTask) -> dict[str, str]:
    """What the answer to an enqueue says of one task: id, queue and status."""
    return {"id": task.envelope.id, "queue": task.envelope.queue, "status": status_of(task)}


def task_changes(
    given: Mapping[str, Any], max_delay: float, now: int, loc: str = "body"
) -> dict[str, str]:
    """A change to an unstarted task as wire-field changes ("" removes an option or due time).

    ``given`` holds only what the caller set: ``payload``, ``max_attempts``,
    ``timeout``, ``delay`` or ``run_at`` (None removes the option).
    """
    changes: dict[str, str] = {}
    if "payload" in given:
        try:
            changes["data"] = jsoncodec.dumps(given["payload"])
        except JsonNumberError as exc:
            msg = "task is invalid"
            errors = [{"loc": exc.loc(f"{loc}.payload"), "msg": str(exc)}]
            raise InvalidTaskError(msg, errors) from exc
    if "max_attempts" in given:
        value = given["max_attempts"]
        changes["max_attempts"] = "" if value is None else str(value)
    if "timeout" in given:
        changes["timeout"] = "" if given["timeout"] is None else repr(given["timeout"])
    if "delay" in given or "run_at" in given:
        named = "delay" if given.get("run_at") is None else "run_at"
        due_loc = named if loc == "body" else f"{loc}.{named}"
        due = due_ms(given.get("delay"), given.get("run_at"), max_delay, now, due_loc)
        changes["due_ms"] = "" if due is None else str(due)
    return changes
