"""The task writes as script calls: enqueue (with its idempotency key), cancel, change.

Each write is one Lua script on the queue partition's slot: the XADD, the task's
read-model record (a compact accepted record, see ``conveyor.records``), the index
entry and the stored idempotent answer commit together. This module builds each
call (:class:`ScriptCall`: script name, keys, arguments) and reads its reply; it
does no I/O, so ingest's coalescing writer, the asyncio client and the blocking
client all run the very same calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any

from conveyor import jsoncodec
from conveyor.control import cancel_fields, replace_fields
from conveyor.envelope import JSON_CONTENT_TYPE, OPTIONAL_TEXT_FIELDS, WIRE_VERSION, TaskEnvelope
from conveyor.keys import Keys, QueueKeys
from conveyor.producing.tasks import Idempotency, NewTask, Stored
from conveyor.records import bucket_key, bucket_of, bucket_ttl_ms
from conveyor.status import TaskStatus
from conveyor.timers import TimerKind, timer_fields

ENQUEUE_SCRIPT = "ingest_enqueue"
CHANGE_SCRIPT = "ingest_change"
SCRIPTS = (ENQUEUE_SCRIPT, CHANGE_SCRIPT)
UNSTARTED = "pending scheduled"  # the statuses a task can still be cancelled or changed in

# Order of a record's states within one attempt (attempt * 10 + rank): later wins.
RANK_QUEUED = 1
RANK_CANCEL_REQUESTED = 2
RANK_STARTED = 3
RANK_RETRYING = 4
RANK_FINAL = 9
KEEP_RANK = -1


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One call of a library Lua script: its name, its keys and its arguments."""

    script: str
    keys: list[str]
    args: list[str | int]


def index_member(created_ms: int, task_id: str) -> str:
    """Status-index member: zero-padded ms first, so lex order is time order."""
    return f"{created_ms:013d}:{task_id}"


# The C string encoder of json: the script's argument is assembled from encoded strings
# (every field is a str), which costs a fraction of json.dumps over nested containers.
_STR = json.encoder.encode_basestring_ascii
_HEAD = ",".join(map(_STR, ("v", WIRE_VERSION, "id"))) + ","
_CONTENT_TYPE = _STR(JSON_CONTENT_TYPE)
_OPTIONAL = tuple((name, f",{_STR(name)},") for name in OPTIONAL_TEXT_FIELDS)


def wire_fields_json(env: TaskEnvelope) -> str:
    """``env.to_fields()`` flattened, as the items of a JSON array (no brackets).

    Rendered from the envelope's attributes in to_fields() order, without building
    the dict: this runs once per accepted task (a unit test pins it to to_fields()).
    """
    parts = [_HEAD, _STR(env.id), ',"type",', _STR(env.type), ',"queue",', _STR(env.queue),
             ',"datacontenttype",', _CONTENT_TYPE, ',"data",', _STR(env.data),
             ',"attempt","', str(env.attempt), '"']  # fmt: skip
    if env.max_attempts is not None:
        parts += (',"max_attempts","', str(env.max_attempts), '"')
    if env.timeout is not None:
        parts += (',"timeout",', _STR(repr(env.timeout)))
    for name, encoded in _OPTIONAL:
        value = getattr(env, name)
        if value:
            parts += (encoded, _STR(value))
    return "".join(parts)


def script_item(task: NewTask, bucket: int = 1, level: int = 0) -> str:
    """One task as the enqueue script's JSON argument reads it (JSON text)."""
    env = task.envelope
    if task.due_ms is None:
        head = '{"f":[' + wire_fields_json(env)
        tail = "]"
    else:
        fields = timer_fields(env, task.due_ms, TimerKind.DELAYED)
        head = '{"f":[' + ",".join(map(_STR, chain.from_iterable(fields.items())))
        tail = '],"d":1'
    if task.replay_of:
        tail += ',"r":' + _STR(task.replay_of)
    if bucket != 1:
        tail += f',"b":{bucket:d}'
    if level:
        tail += f',"l":{level:d}'
    return head + tail + "}"


@dataclass(frozen=True, slots=True)
class TaskWrites:
    """Builds the write calls for one key layout and retention."""

    keys: Keys
    retention_ms: int
    idem_ttl_ms: int

    def enqueue(
        self,
        shard: str,
        tasks: Sequence[NewTask],
        idem: Idempotency | None,
        response: tuple[int, str],
        now: int,
    ) -> ScriptCall:
        """Write ``tasks`` of one partition (``shard``) and store ``response`` under ``idem``."""
        qk = self.keys.queue(shard)
        idem_key = qk.idempotency(idem.subject, idem.key) if idem else qk.status_index
        keys = [qk.status_index, idem_key, qk.tasks, qk.timers_in]
        stored = f"{idem.fingerprint}\n{response[0]}\n{response[1]}" if idem else ""
        buckets: dict[int, int] = {}  # bucket -> its number in the script (1-based)
        items = []
        levels: dict[str, int] = {}  # priority -> its stream's number after the buckets
        for task in tasks:
            bucket = bucket_of(task.envelope.id) or 0
            number = buckets.setdefault(bucket, len(buckets) + 1)
            level = task.envelope.priority
            if level and task.due_ms is None:  # a delayed task keeps it in its timer
                items.append(script_item(task, number, levels.setdefault(level, len(levels) + 1)))
            else:
                items.append(script_item(task, number))
        keys += [qk.accepted(bucket) for bucket in buckets]
        keys += [qk.at_level(level).tasks for level in levels]
        ttl = self.idem_ttl_ms if idem else 0
        args: list[str | int] = [now, self.retention_ms, ttl, stored, "[" + ",".join(items) + "]"]
        args += [bucket_ttl_ms(bucket, now, self.retention_ms) for bucket in buckets]
        return ScriptCall(ENQUEUE_SCRIPT, keys, args)

    def cancel(self, shard: str, task_id: str, until_ms: int, now: int) -> ScriptCall:
        """Cancel a pending or scheduled task (reply: see :func:`change_outcome`)."""
        fields = cancel_fields(task_id, now, until_ms)
        record = ["status", TaskStatus.CANCELLED.value, "finished_ms", str(now)]
        return self._change(self.keys.queue(shard), task_id, RANK_CANCEL_REQUESTED, fields, record)

    def replace(
        self, shard: str, task_id: str, changes: dict[str, str], until_ms: int, now: int
    ) -> ScriptCall:
        """Change a task that has not started: one replace for the scheduler and workers.

        The scheduler applies it to the task's pending timer, else a worker applies it
        when it takes the task (control.py). ``changes`` maps control.CHANGEABLE names
        to new values ("" removes one); see ``producing.tasks.task_changes``.
        """
        fields = replace_fields(task_id, now, until_ms)
        record = ["due_ms", changes["due_ms"]] if "due_ms" in changes else []
        text = jsoncodec.dumps(changes)
        qk = self.keys.queue(shard)
        return self._change(qk, task_id, KEEP_RANK, fields, record, text)

    @staticmethod
    def _change(
        qk: QueueKeys,
        task_id: str,
        rank: int,
        fields: dict[str, str],
        record: list[str],
        changes: str = "",
    ) -> ScriptCall:
        args: list[str | int] = [UNSTARTED, rank, task_id, qk.queue, changes, len(fields) * 2]
        args += [item for pair in fields.items() for item in pair]
        keys = [qk.task_status(task_id), qk.control, bucket_key(qk, task_id)]
        return ScriptCall(CHANGE_SCRIPT, keys, [*args, *record])


def stored_answer(reply: Any) -> Stored | None:
    """The enqueue script's reply: the answer stored under a replayed key, else None."""
    if int(reply[0]) == 1:
        head, status, text = bytes(reply[1]).decode().split("\n", 2)
        return Stored(fingerprint=head, status=int(status), text=text)
    return None


def change_outcome(reply: Any) -> tuple[str, int]:
    """The change script's reply: ('ok', revision: 0 for a cancel) or ('missing' | the
    status that forbids the change, 0)."""
    status, _, revision = bytes(reply).decode().partition(":")
    return status, int(revision or "0")


@contextmanager
def producer_spans(
    qk: QueueKeys,
    tasks: Sequence[NewTask],
    *,
    link_existing: bool = False,
    parents: Mapping[str, tuple[str, str]] | None = None,
) -> Iterator[list[NewTask]]:
    """``tasks`` inside their PRODUCER ``send`` spans: each carries its span's context.

    ``parents`` (task id -> traceparent, tracestate) names the parent of a task's span
    when it is not the current span (a CloudEvent's own trace context). Without an
    OpenTelemetry SDK installed this yields the tasks as they are (the telemetry module
    is imported only here, on the first traced write).
    """
    # Imported here: importing it costs every producer.
    from conveyor.telemetry.spans import parented_send_spans, send_spans

    streams = [
        qk.at_level(task.envelope.priority or "normal").tasks
        if task.due_ms is None
        else qk.timers_in
        for task in tasks
    ]
    envelopes_ = [task.envelope for task in tasks]
    if parents:
        pairs = [parents.get(env.id, ("", "")) for env in envelopes_]
        sends = parented_send_spans(streams, envelopes_, pairs)
    else:
        sends = send_spans(streams, envelopes_, link_existing=link_existing)
    with sends as envelopes:
        yield [replace(t, envelope=e) for t, e in zip(tasks, envelopes, strict=True)]
