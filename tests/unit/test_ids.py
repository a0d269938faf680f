"""Task ids are UUIDv7: version and variant bits set, ordered by creation time."""

from __future__ import annotations

import uuid

from conveyor.ids import new_task_id, task_id_time_ms


def test_ids_are_uuid_version_7_with_rfc_variant() -> None:
    parsed = uuid.UUID(new_task_id())
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_ids_carry_their_millisecond_and_sort_by_it() -> None:
    ids = [
        new_task_id(now_ms=ms) for ms in (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000)
    ]
    assert [task_id_time_ms(i) for i in ids] == [
        1_700_000_000_000,
        1_700_000_000_001,
        1_800_000_000_000,
    ]
    assert sorted(ids) == ids


def test_ids_are_unique() -> None:
    assert len({new_task_id(now_ms=5) for _ in range(10_000)}) == 10_000
