"""Accepted records: a task's bucket from its UUIDv7 id, and the compact record's fields."""

from __future__ import annotations

import json

import pytest

from conveyor.ids import new_task_id
from conveyor.keys import Keys
from conveyor.records import BUCKET_MS, bucket_key, bucket_of, bucket_ttl_ms, expand

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_bucket_is_the_second_of_the_id() -> None:
    assert bucket_of(new_task_id(1_700_000_123_456)) == 1_700_000_123_456 // BUCKET_MS


@pytest.mark.parametrize(
    "task_id", ["custom-id", "", "0190aaaa-0000-4000-8000-000000000000", "x" * 36]
)
def test_ids_that_are_not_uuid7_have_no_bucket(task_id: str) -> None:
    assert bucket_of(task_id) is None
    assert bucket_key(Keys("p").queue("q"), task_id) == Keys("p").queue("q").accepted(0)


def test_bucket_lives_the_retention_after_its_last_millisecond() -> None:
    assert bucket_ttl_ms(1_700_000_000, 1_700_000_000_250, 60_000) == 60_750


def test_expand_gives_the_record_hash_fields_and_skips_empty_ones() -> None:
    fields = ["scheduled", "17", "1", "demo.echo", "api", "99", "", TRACEPARENT, "a\x1fb"]
    packed = json.dumps(fields)
    record = expand("t1", "default", packed.encode())
    assert record == {
        b"id": b"t1", b"queue": b"default", b"attempts": b"0", b"status": b"scheduled",
        b"created_ms": b"17", b"attempt": b"1", b"type": b"demo.echo", b"origin": b"api",
        b"due_ms": b"99", b"traceparent": TRACEPARENT.encode(), b"subject": b"a\x1fb",
    }  # fmt: skip
