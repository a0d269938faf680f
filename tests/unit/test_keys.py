"""Key names: one hash slot per queue, owner segments, validated queue names."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from conveyor.keys import Keys, QueueKeys


def _queue_keys(q: QueueKeys) -> list[str]:
    return [
        q.tasks, q.events, q.timers_in, q.dead, q.control, q.timer_index, q.timer_entries,
        q.replaces, q.replaces_expiry,
        q.fire_dedup("nightly", 1_790_000_000_000), q.last_fired, q.effect_mark("alice:k"),
        q.effect_key("balance:acc-1"), q.cancelled, q.replaced, q.janitor_lease,
        q.idempotency("alice", "k"), q.task_status("0190"), q.status_index,
    ]  # fmt: skip


def test_every_key_of_a_queue_shares_one_hash_slot() -> None:
    q = Keys("conveyor").queue("default")
    slots = {key_slot(k.encode()) for k in _queue_keys(q)}
    assert slots == {key_slot(b"default")}
    assert q.tasks == "conveyor:{default}:tasks"


def test_different_queues_usually_land_in_different_slots() -> None:
    keys = Keys("conveyor", queues=("a", "b", "c"))
    assert len({key_slot(q.tasks.encode()) for q in keys.all_queues()}) == 3


def test_owned_keys_carry_their_owner_segment() -> None:
    q = Keys("p").queue("q")
    assert q.effect_mark("k").startswith("p:{q}:w:")
    assert q.timer_index.startswith("p:{q}:s:")
    assert q.task_status("t").startswith("p:{q}:i:")


def test_schedule_keys_share_their_own_slot() -> None:
    keys = Keys("p")
    names = [
        keys.schedule_changes,
        keys.schedule_applied,
        keys.schedule_store,
        keys.schedule_listing,
    ]
    assert len({key_slot(n.encode()) for n in names}) == 1


@pytest.mark.parametrize("bad", ["", "a}b", "{x}", "a:b", "x" * 65, "sp ace"])
def test_queue_names_that_would_break_the_layout_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid queue name"):
        Keys("p").queue(bad)


@pytest.mark.parametrize("part", ["a{b", "}", "{default}"])
def test_run_time_parts_cannot_open_or_close_a_hash_tag(part: str) -> None:
    q = Keys("p").queue("q")
    for build in (q.effect_mark, q.effect_key, q.task_status):
        with pytest.raises(ValueError, match="must not contain"):
            build(part)
    # A scope escapes braces instead: the key keeps the queue's tag as its only one.
    assert q.idempotency("alice", part).count("{") == 1
    with pytest.raises(ValueError, match="must not contain"):
        Keys("p").rate_limit(part)
