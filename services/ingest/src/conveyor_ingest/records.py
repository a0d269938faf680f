"""Accepted records: how the read model holds a task between its 202 and its first event.

The enqueue script must write each task's record in the same atomic step as its
XADD. A hash per task (HSET + PEXPIRE per task) cost about as much Redis time as
everything else in that script together, so at accept time a task gets one field
in its second's bucket hash instead (``QueueKeys.accepted``): task id -> a compact
JSON array, one HSET per bucket and script call. The bucket's TTL covers the
retention after the bucket's last millisecond, so Redis memory stays bounded.

The first lifecycle event, a cancel or a PUT turns the compact record into the
task's full record hash (``ingest_record.lua``) and removes it from the bucket.
Readers look for both; the bucket of a task is found from its UUIDv7 id alone.
"""

from __future__ import annotations

from conveyor import jsoncodec
from conveyor.keys import QueueKeys

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
