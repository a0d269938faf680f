"""What a finished attempt becomes: the commit op for a result or an exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor import jsoncodec
from conveyor.deadletter import DeadReason, dead_fields
from conveyor.envelope import TaskEnvelope
from conveyor.errors import Drop, Retry
from conveyor.events import TaskEventType, event_fields, event_tokens
from conveyor.handlers import Handler, InvalidPayloadError, TaskContext, result_template
from conveyor.keys import QueueKeys
from conveyor.timers import TimerKind, timer_fields
from conveyor_worker.ops import Op, OpKind, RawFields, effect_commit, op, workflow_step

_ACK = OpKind.ACK
_PUBLISH_START = OpKind.PUBLISH_START
_SUCCEEDED = TaskEventType.SUCCEEDED
_STARTED = TaskEventType.STARTED

MAX_ERROR = 500
_encode = jsoncodec.dumps


def describe(exc: BaseException) -> str:
    """One line naming an exception, as events and dead letters carry it."""
    text = str(exc).replace("\n", " ").strip()
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:MAX_ERROR]


def max_attempts(envelope: TaskEnvelope, handler: Handler) -> int:
    """Attempts allowed: the envelope's override, else the handler's option."""
    return envelope.max_attempts or handler.options.max_attempts


def success(ctx: TaskContext, queue_keys: QueueKeys, value: Any, now_ms: int) -> Op:
    """The op of a successful attempt (an effect commit when effects were queued)."""
    envelope = ctx.envelope
    if ctx.effects:
        template = result_template(value, ctx.effects)
        event = event_fields(TaskEventType.SUCCEEDED, envelope, now_ms)
        commit = effect_commit(
            ctx.entry_id, queue_keys, ctx.idempotency_key, ctx.effects, template, event
        )
        if envelope.workflow:
            return workflow_step(commit, queue_keys, envelope, _SUCCEEDED, "", "")
        return commit
    result = "null" if value is None else _encode(value)
    done = Op(_ACK, ctx.entry_id, event_tokens(_SUCCEEDED, envelope, now_ms, "result", result))
    if envelope.workflow:
        return workflow_step(done, queue_keys, envelope, _SUCCEEDED, result, "")
    return done


def failure(
    ctx: TaskContext,
    raw: RawFields,
    handler: Handler,
    exc: BaseException,
    now_ms: int,
    rand: Callable[[], float],
    keys: QueueKeys | None = None,
) -> Op:
    """The op of a failed attempt: drop, retry timer, or dead letter.

    ``keys``: the queue's keys, needed to end a workflow step (a task in a workflow).
    """
    envelope = ctx.envelope
    if isinstance(exc, Drop):
        event = event_fields(TaskEventType.DROPPED, envelope, now_ms, error=exc.reason)
        dropped = op(OpKind.ACK, ctx.entry_id, event)
        if envelope.workflow and keys is not None:
            return workflow_step(dropped, keys, envelope, "dropped", "", exc.reason)
        return dropped
    if isinstance(exc, InvalidPayloadError):
        return dead(ctx.entry_id, raw, envelope, DeadReason.INVALID_PAYLOAD, exc, now_ms, keys=keys)
    if handler.options.is_permanent(exc):
        return dead(ctx.entry_id, raw, envelope, DeadReason.PERMANENT, exc, now_ms, keys=keys)
    if envelope.attempt >= max_attempts(envelope, handler):
        return dead(ctx.entry_id, raw, envelope, DeadReason.EXHAUSTED, exc, now_ms, keys=keys)
    delay = exc.delay if isinstance(exc, Retry) and exc.delay is not None else None
    if delay is None:
        delay = handler.options.backoff.delay(envelope.attempt, rand)
    due_ms = now_ms + round(delay * 1000)
    timer = timer_fields(envelope.next_attempt(), due_ms, TimerKind.RETRY)
    event = event_fields(
        TaskEventType.RETRYING, envelope, now_ms, due_ms=due_ms, error=describe(exc)
    )
    return op(OpKind.TIMER, ctx.entry_id, timer, event)


def defer(entry_id: str, envelope: TaskEnvelope, due_ms: int, now_ms: int) -> Op:
    """Postpone a task without spending an attempt (its type's breaker is open)."""
    timer = timer_fields(envelope, due_ms, TimerKind.DEFERRED)
    event = event_fields(TaskEventType.SCHEDULED, envelope, now_ms, due_ms=due_ms)
    return op(OpKind.TIMER, entry_id, timer, event)


def dead(
    entry_id: str,
    raw: RawFields,
    envelope: TaskEnvelope | None,
    reason: DeadReason,
    error: BaseException | str,
    now_ms: int,
    attempts: int | None = None,
    keys: QueueKeys | None = None,
) -> Op:
    """XACK + dead letter (original raw fields kept) + dead event when the task decoded.

    With ``keys``, a task in a workflow also ends its step (its chain stops, its chord counts).
    """
    text = error if isinstance(error, str) else describe(error)
    tried = attempts if attempts is not None else (envelope.attempt if envelope else 0)
    letter = dead_fields(raw, reason, text, tried, now_ms, entry_id)
    event = (
        event_fields(TaskEventType.DEAD, envelope, now_ms, error=f"{reason.value}: {text}")
        if envelope is not None
        else None
    )
    letter_op = op(OpKind.DEAD, entry_id, letter, event)
    if envelope is not None and envelope.workflow and keys is not None:
        return workflow_step(letter_op, keys, envelope, "dead", "", f"{reason.value}: {text}")
    return letter_op


def started(entry_id: str, envelope: TaskEnvelope, now_ms: int, *, checked: bool) -> Op:
    """The start op: a started event, or XACK + cancelled event if the task was cancelled,
    or XACK + the changed task if a newer revision of it was recorded.

    ``checked=False``: the started event only (the caller knows nothing is cancelled).
    """
    event = event_tokens(_STARTED, envelope, now_ms)
    if not checked:
        return Op(_PUBLISH_START, entry_id, event)
    parts = [envelope.id, str(envelope.revision), str(envelope.attempt), *event]
    return Op(OpKind.START, entry_id, parts)
