"""Partitioned queues: shard key layout, stable routing by partition key, the setting."""

from __future__ import annotations

from collections import Counter

import pytest
from redis.crc import key_slot

from conveyor.errors import ConfigurationError
from conveyor.keys import Keys, QueueKeys
from conveyor.settings import RedisSettings, load_settings

KEYS = Keys("p", ("orders", "default"), (("orders", 4),))


def test_partition_zero_keeps_the_unpartitioned_layout_and_others_get_their_own_tag() -> None:
    assert QueueKeys("p", "orders", 0) == Keys("p", ("orders",)).queue("orders")
    assert QueueKeys("p", "orders", 0).tasks == "p:{orders}:tasks"
    assert QueueKeys("p", "orders", 3).tasks == "p:{orders~3}:tasks"
    assert QueueKeys("p", "orders", 3).effect_mark("k") == "p:{orders~3}:w:done:k"


def test_every_key_of_a_partition_shares_its_slot_and_partitions_differ() -> None:
    shard = KEYS.queue("orders~2")
    names = [shard.tasks, shard.events, shard.dead, shard.timer_index, shard.task_status("t")]
    assert {key_slot(name.encode()) for name in names} == {key_slot(b"orders~2")}
    many = Keys("p", ("q",), (("q", 16),))
    assert len({key_slot(qk.tasks.encode()) for qk in many.shards("q")}) == 16


def test_all_queues_lists_every_partition_of_every_queue() -> None:
    assert [qk.shard for qk in KEYS.all_queues()] == [
        "orders", "orders~1", "orders~2", "orders~3", "default",
    ]  # fmt: skip
    assert KEYS.partition_count("default") == 1


@pytest.mark.parametrize(
    "name", ["orders~0", "orders~01", "orders~4", "orders~x", "orders~", "default~1"]
)
def test_shard_names_outside_the_configuration_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match=r"invalid queue name|has no partition"):
        KEYS.queue(name)


def test_routing_is_a_fixed_function_of_the_key() -> None:
    """CRC-32 mod N: the same answer in every process (Python's hash() would not be)."""
    expected = {"customer-1": 1, "customer-2": 3, "customer-3": 1, "acme": 2}
    assert {key: KEYS.route("orders", key).partition for key in expected} == expected
    again = Keys("other-prefix", ("orders",), (("orders", 4),))
    assert again.route("orders", "acme").tasks == "other-prefix:{orders~2}:tasks"


def test_routing_spreads_keys_over_every_partition() -> None:
    counts = Counter(KEYS.route("orders", f"key-{n}").partition for n in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(800 < count < 1200 for count in counts.values()), counts


def test_an_unpartitioned_queue_routes_everything_to_its_one_shard() -> None:
    assert {KEYS.route("default", f"k{n}").shard for n in range(50)} == {"default"}


def test_partitions_setting_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_QUEUES", "orders,clicks,default")
    monkeypatch.setenv("CONVEYOR_QUEUE_PARTITIONS", " orders=4, clicks = 8 ")
    settings = load_settings(RedisSettings)
    assert settings.queue_partitions == (("orders", 4), ("clicks", 8))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nope=2", "CONVEYOR_QUEUE_PARTITIONS names 'nope', which is not in CONVEYOR_QUEUES"),
        ("orders=0", "CONVEYOR_QUEUE_PARTITIONS: queue 'orders': partitions must be 1-256, got 0"),
        ("orders=257", "partitions must be 1-256, got 257"),
        ("orders", "CONVEYOR_QUEUE_PARTITIONS: expected <queue>=<partitions>, got 'orders'"),
        ("orders=x", "expected <queue>=<partitions>, got 'orders=x'"),
        ("orders=2,orders=3", "CONVEYOR_QUEUE_PARTITIONS: a queue is given partitions twice"),
    ],
)
def test_bad_partition_settings_get_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("CONVEYOR_QUEUES", "orders,default")
    monkeypatch.setenv("CONVEYOR_QUEUE_PARTITIONS", value)
    with pytest.raises(ConfigurationError, match="invalid configuration") as caught:
        load_settings(RedisSettings)
    assert expected in str(caught.value)
