"""Task records: how the read model holds a task, and how a reader finds and shows one.

Accepted records: how the read model holds a task between its 202 and its first event.

The enqueue script must write each task's record in the same atomic step as its
XADD. A hash per task (HSET + PEXPIRE per task) cost about as much Redis time as
everything else in that script together, so at accept time a task gets one field
in its second's bucket hash instead (``QueueKeys.accepted``): task id -> a compact
JSON array, one HSET per bucket and script call. The bucket's TTL covers the
retention after the bucket's last millisecond, so Redis memory stays bounded.

The first lifecycle event, a cancel or a PUT turns the compact record into the
task's full record hash (``ingest_record.lua``) and removes it from the bucket.
Readers look for both (``ask_record`` then ``record_of``, over a pipeline of either
redis-py flavour); the bucket of a task is found from its UUIDv7 id alone. ``view`` is
a record as the HTTP API and the client show it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from conveyor import jsoncodec
from conveyor.envelope import decode_event_attributes, format_time
from conveyor.keys import QueueKeys
from conveyor.status import TaskStatus

BUCKET_MS = 1000

# Positions in a compact record, as ingest_enqueue.lua writes it.
_FIELDS = (
    b"status",
    b"created_ms",
    b"attempt",
    b"type",
    b"origin",
    b"due_ms",
    b"replay_of",
    b"traceparent",
    b"subject",
    b"event_attributes",  # only in the records of tasks made from CloudEvents
)
_UUID_LENGTH = 36


def bucket_of(task_id: str) -> int | None:
    """The accepted bucket of a UUIDv7 task id (its ms // BUCKET_MS); None for other ids.

    Ingest gives every task it accepts a UUIDv7 id; tasks with other ids (from other
    producers) never had an accepted record.
    """
    if len(task_id) != _UUID_LENGTH or task_id[14] != "7" or task_id[8] != "-":
        return None
    try:
        return int(task_id[:8] + task_id[9:13], 16) // BUCKET_MS
    except ValueError:
        return None


def bucket_key(qk: QueueKeys, task_id: str) -> str:
    """The accepted-bucket key where ``task_id`` may have its compact record.

    Ids without a bucket get bucket 0's key, which no task is ever written to: the
    scripts can always be given one key (declared keys stay in the queue's slot).
    """
    return qk.accepted(bucket_of(task_id) or 0)


def bucket_ttl_ms(bucket: int, now_ms: int, retention_ms: int) -> int:
    """PEXPIRE of a bucket written at ``now_ms``: the retention after its last millisecond."""
    return max(1, (bucket + 1) * BUCKET_MS + retention_ms - now_ms)


def expand(task_id: str, queue: str, packed: bytes) -> dict[bytes, bytes]:
    """A compact record as the record hash it stands for (what HGETALL would return)."""
    values = jsoncodec.loads(packed)
    record = {b"id": task_id.encode(), b"queue": queue.encode(), b"attempts": b"0"}
    for name, value in zip(_FIELDS, values, strict=False):
        if value != "":
            record[name] = str(value).encode()
    return record


def ask_record(pipe: Any, qk: QueueKeys, task_id: str, bucket: int | None) -> None:
    """Queue the reads of ``task_id``'s record on ``pipe`` (a sync or asyncio pipeline)."""
    # The compact record first: if an event turns it into the hash in between, the
    # HGETALL after it sees the hash, so a reader never finds neither.
    if bucket is not None:
        pipe.hget(qk.accepted(bucket), task_id)
    pipe.hgetall(qk.task_status(task_id))


def record_of(qk: QueueKeys, task_id: str, replies: list[Any]) -> dict[bytes, bytes] | None:
    """The record in the replies of ``ask_record``, or None when there is none."""
    if replies[-1]:
        return dict(replies[-1])
    if len(replies) > 1 and replies[0]:
        return expand(task_id, qk.queue, replies[0])
    return None


def ask_any_record(pipe: Any, shards: list[QueueKeys], task_id: str) -> bool:
    """Queue the reads of ``task_id``'s record in each of ``shards`` on ``pipe``.

    False (nothing queued) when no key can hold the id: braces would move it to
    another slot.
    """
    if "{" in task_id or "}" in task_id:
        return False
    bucket = bucket_of(task_id)
    for qk in shards:
        ask_record(pipe, qk, task_id, bucket)
    return True


def found_record(
    shards: list[QueueKeys], task_id: str, replies: list[Any]
) -> tuple[QueueKeys, dict[bytes, bytes]] | None:
    """The record (and its shard) in the replies of ``ask_any_record``, or None."""
    step = len(replies) // len(shards)
    for index, qk in enumerate(shards):
        record = record_of(qk, task_id, replies[index * step : (index + 1) * step])
        if record is not None:
            return qk, record
    return None


def _time(ms: bytes | None) -> str | None:
    if not ms:
        return None
    return format_time(datetime.fromtimestamp(int(ms) / 1000, tz=UTC))


def _text(record: dict[bytes, bytes], name: str) -> str | None:
    value = record.get(name.encode())
    return value.decode() if value else None


def view(record: dict[bytes, bytes]) -> dict[str, Any]:
    """A record hash as the API shows it (result parsed back into JSON)."""
    result_text = record.get(b"result")
    try:
        result = jsoncodec.loads(result_text) if result_text else None
    except ValueError:
        result = result_text.decode(errors="replace") if result_text else None
    return {
        "id": _text(record, "id"),
        "type": _text(record, "type"),
        "queue": _text(record, "queue"),
        "status": _text(record, "status") or TaskStatus.PENDING.value,
        "attempts": int(record.get(b"attempts", b"0")),
        "result": result,
        "error": _text(record, "error"),
        "subject": _text(record, "subject"),
        "origin": _text(record, "origin"),
        "created_at": _time(record.get(b"created_ms")),
        "started_at": _time(record.get(b"started_ms")),
        "finished_at": _time(record.get(b"finished_ms")),
        "due_at": _time(record.get(b"due_ms")),
        "replay_of": _text(record, "replay_of"),
        **_revision(record),
        "event_attributes": _event_attributes(record.get(b"event_attributes")),
        "progress": _progress(record),
    }


def _progress(record: dict[bytes, bytes]) -> dict[str, Any] | None:
    """The last progress the running handler reported (None before any report)."""
    fraction = record.get(b"progress")
    if not fraction:
        return None
    return {"fraction": float(fraction), "message": _text(record, "progress_message") or ""}


def _event_attributes(raw: bytes | None) -> dict[str, str] | None:
    """The CloudEvents attributes a task made from an event carries (None for other tasks)."""
    if not raw:
        return None
    try:
        return decode_event_attributes(raw.decode())
    except ValueError:
        return None  # written by ingest itself: unreachable unless edited by hand


def _revision(record: dict[bytes, bytes]) -> dict[str, Any]:
    """The task's revision (changes accepted by PUT) and whether the last one came too late.

    A worker decides at the start whether a change applies; the started event names
    the revision that ran, so a lower one than the record's means the change was not
    applied (the task ran, or runs, as it was before).
    """
    revision = int(record.get(b"revision", b"0"))
    ran = record.get(b"run_revision")
    return {"revision": revision, "change_rejected": ran is not None and int(ran) < revision}
