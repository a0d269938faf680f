"""Writes of the task API: enqueue (with Idempotency-Key) and changes to unstarted tasks.

Each write is one Lua script on the queue's slot: the XADD, the task's read-model
record (a compact accepted record, see records.py), the index entry and the stored
Idempotency-Key response commit together.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

from redis.asyncio import Redis

from conveyor import jsoncodec
from conveyor.control import cancel_fields, replace_fields
from conveyor.envelope import JSON_CONTENT_TYPE, OPTIONAL_TEXT_FIELDS, WIRE_VERSION, TaskEnvelope
from conveyor.keys import Keys, QueueKeys
from conveyor.lua import register
from conveyor.timers import TimerKind, timer_fields
from conveyor_ingest.coalesce import TickBatcher
from conveyor_ingest.models import TaskStatus
from conveyor_ingest.records import bucket_key, bucket_of, bucket_ttl_ms
from conveyor_ingest.writer import ScriptWriter

# Order of a record's states within one attempt (attempt * 10 + rank): later wins.
RANK_QUEUED = 1
RANK_CANCEL_REQUESTED = 2
RANK_STARTED = 3
RANK_RETRYING = 4
RANK_FINAL = 9
KEEP_RANK = -1


@dataclass(frozen=True, slots=True)
class NewTask:
    """A validated task and, for a delayed one, when it is due (Unix ms)."""

    envelope: TaskEnvelope
    due_ms: int | None = None
    replay_of: str = ""


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An Idempotency-Key of one client and the fingerprint of its request."""

    subject: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Stored:
    """A response stored under an Idempotency-Key."""

    fingerprint: str
    status: int
    text: str


def fingerprint(path: str, body: bytes) -> str:
    """What makes two requests with one Idempotency-Key the same request."""
    return hashlib.sha256(path.encode() + b"\n" + body).hexdigest()


def now_ms() -> int:
    """Wall-clock Unix milliseconds."""
    return time.time_ns() // 1_000_000


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


def _item(task: NewTask, bucket: int = 1) -> str:
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
    return head + tail + "}"


class TaskStore:
    """The enqueue and change scripts, bound to one client and key layout."""

    def __init__(
        self, client: Redis, writer: ScriptWriter, keys: Keys, retention_s: float, idem_ttl_s: float
    ) -> None:
        self._writer = writer
        self._keys = keys
        self._retention_ms = int(retention_s * 1000)
        self._idem_ttl_ms = int(idem_ttl_s * 1000)
        self._enqueue = register(client, "ingest_enqueue")
        self._change = register(client, "ingest_change")
        self._singles: TickBatcher[str, NewTask, None] = TickBatcher(self._enqueue_many)

    async def enqueue(
        self,
        queue: str,
        tasks: Sequence[NewTask],
        idem: Idempotency | None = None,
        response: tuple[int, str] = (202, ""),
    ) -> Stored | None:
        """Write ``tasks`` of ``queue`` atomically; a replayed Idempotency-Key returns Stored.

        Single tasks without a key, submitted concurrently, share one script call.
        """
        if idem is None and len(tasks) == 1:
            await self._singles.submit(queue, tasks[0])
            return None
        return await self._write(queue, tasks, idem, response)

    async def _enqueue_many(self, queue: str, tasks: list[NewTask]) -> list[None]:
        await self._write(queue, tasks, None, (202, ""))
        return [None] * len(tasks)

    async def _write(
        self,
        queue: str,
        tasks: Sequence[NewTask],
        idem: Idempotency | None,
        response: tuple[int, str],
    ) -> Stored | None:
        qk = self._keys.queue(queue)
        idem_key = qk.idempotency(idem.subject, idem.key) if idem else qk.status_index
        keys = [qk.status_index, idem_key, qk.tasks, qk.timers_in]
        stored = f"{idem.fingerprint}\n{response[0]}\n{response[1]}" if idem else ""
        at = now_ms()
        buckets: dict[int, int] = {}  # bucket -> its number in the script (1-based)
        items = []
        for task in tasks:
            bucket = bucket_of(task.envelope.id) or 0
            number = buckets.setdefault(bucket, len(buckets) + 1)
            items.append(_item(task, number))
        keys += [qk.accepted(bucket) for bucket in buckets]
        ttl = self._idem_ttl_ms if idem else 0
        args = [at, self._retention_ms, ttl, stored, "[" + ",".join(items) + "]"]
        args += [bucket_ttl_ms(bucket, at, self._retention_ms) for bucket in buckets]
        reply = await self._writer.call(self._enqueue, keys, args)
        if int(reply[0]) == 1:
            head, status, text = bytes(reply[1]).decode().split("\n", 2)
            return Stored(fingerprint=head, status=int(status), text=text)
        return None

    async def cancel(self, queue: str, task_id: str, until_ms: int) -> str:
        """Cancel a pending or scheduled task: 'ok', 'missing' or the status forbidding it."""
        qk = self._keys.queue(queue)
        at = now_ms()
        fields = cancel_fields(task_id, at, until_ms)
        record = ["status", TaskStatus.CANCELLED.value, "finished_ms", str(at)]
        return await self._run_change(qk, task_id, "pending scheduled", RANK_CANCEL_REQUESTED,
                                      fields, record)  # fmt: skip

    async def replace(
        self, queue: str, task_id: str, changes: dict[str, str], until_ms: int
    ) -> tuple[str, int]:
        """Change a task that has not started (PUT): one replace for the scheduler and workers.

        The scheduler applies it to the task's pending timer, else a worker applies it
        when it takes the task (control.py). ``changes`` maps control.CHANGEABLE names
        to new values ("" removes one).
        Returns ('ok', new revision), or ('missing' | the forbidding status, 0).
        """
        qk = self._keys.queue(queue)
        fields = replace_fields(task_id, now_ms(), until_ms)
        record = ["due_ms", changes["due_ms"]] if "due_ms" in changes else []
        text = jsoncodec.dumps(changes)
        outcome = await self._run_change(
            qk, task_id, "pending scheduled", KEEP_RANK, fields, record, text
        )
        status, _, revision = outcome.partition(":")
        return status, int(revision or "0")

    async def _run_change(
        self,
        qk: QueueKeys,
        task_id: str,
        allowed: str,
        rank: int,
        fields: dict[str, str],
        record: list[str],
        changes: str = "",
    ) -> str:
        args: list[str | int] = [allowed, rank, task_id, qk.queue, changes, len(fields) * 2]
        args += [item for pair in fields.items() for item in pair]
        keys = [qk.task_status(task_id), qk.control, bucket_key(qk, task_id)]
        reply = await self._writer.call(self._change, keys, [*args, *record])
        return bytes(reply).decode()
