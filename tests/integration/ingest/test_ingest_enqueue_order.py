"""The enqueue script: fields read by position (out of order: no write), per-second records."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from conveyor.envelope import new_envelope
from conveyor.ids import new_task_id
from conveyor.keys import Keys
from conveyor.lua import register
from conveyor.records import BUCKET_MS, bucket_key, expand
from conveyor_ingest.readmodel import find_record
from conveyor_ingest.store import NewTask, TaskStore, now_ms
from conveyor_ingest.writer import ScriptWriter


def _item(fields: dict[str, str]) -> dict[str, object]:
    return {"f": [x for pair in fields.items() for x in pair]}


async def test_ingest_enqueue_refuses_fields_out_of_wire_order(redis: Redis, keys: Keys) -> None:
    qk = keys.queue("default")
    good = new_envelope("demo.echo", {"n": 1}, "default")
    bad = new_envelope("demo.echo", {"n": 2}, "default")
    shuffled = dict(reversed(list(bad.to_fields().items())))
    script = register(redis, "ingest_enqueue")
    task_keys = [qk.status_index, qk.status_index, qk.tasks, qk.timers_in, bucket_key(qk, good.id)]
    items = json.dumps([_item(good.to_fields()), _item(shuffled)])
    with pytest.raises(ResponseError, match="not in wire order"):
        await script(keys=task_keys, args=[1_700_000_000_000, 60_000, 0, "", items, 60_000])
    # The check runs before any write: the well-formed first task was not written either.
    assert await redis.xlen(qk.tasks) == 0
    assert await redis.exists(bucket_key(qk, good.id), qk.status_index) == 0


async def test_ingest_enqueue_records_tasks_in_wire_order(redis: Redis, keys: Keys) -> None:
    qk = keys.queue("default")
    envelope = new_envelope("demo.echo", {"n": 1}, "default", subject="alice", origin="api")
    script = register(redis, "ingest_enqueue")
    bucket = bucket_key(qk, envelope.id)
    task_keys = [qk.status_index, qk.status_index, qk.tasks, qk.timers_in, bucket]
    items = json.dumps([_item(envelope.to_fields())])
    await script(keys=task_keys, args=[1_700_000_000_000, 60_000, 0, "", items, 60_000])
    packed = await redis.hget(bucket, envelope.id)
    assert packed is not None
    record = expand(envelope.id, "default", packed.encode() if isinstance(packed, str) else packed)
    assert record[b"id"] == envelope.id.encode()
    assert record[b"type"] == b"demo.echo"
    assert record[b"queue"] == b"default"
    assert record[b"status"] == b"pending"
    assert record[b"subject"] == b"alice"
    assert record[b"origin"] == b"api"
    assert record[b"attempt"] == b"1"
    assert 0 < await redis.pttl(bucket) <= 60_000
    assert await redis.xlen(qk.tasks) == 1


async def test_ingest_enqueue_spreads_one_call_over_the_ids_seconds(
    redis: Redis, keys: Keys
) -> None:
    store = TaskStore(redis, ScriptWriter(redis), keys, retention_s=60, idem_ttl_s=60)
    second = now_ms() // 1000 * 1000
    ids = [new_task_id(second - 1), new_task_id(second), new_task_id(second + 1)]
    tasks = [NewTask(new_envelope("demo.echo", n, "default", task_id=i)) for n, i in enumerate(ids)]
    await store.enqueue("default", tasks, None, (202, ""))
    qk = keys.queue("default")
    buckets = {bucket_key(qk, task_id) for task_id in ids}
    assert len(buckets) == 2  # one call, two buckets
    for task_id in ids:
        record = await find_record(redis, keys, task_id)
        assert record is not None
        assert record[b"status"] == b"pending"
        assert 0 < await redis.pttl(bucket_key(qk, task_id)) <= 60_000 + BUCKET_MS
