"""The HTTP API on a queue of 4 partitions: routing, look-ups, changes, stats, dead letters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor.deadletter import DeadReason, dead_fields
from conveyor.envelope import decode_envelope, new_envelope
from conveyor.keys import Keys, QueueKeys
from conveyor.settings import RedisSettings
from conveyor_ingest.store import now_ms
from conveyor_worker.examples import registry as examples
from conveyor_worker.settings import WorkerSettings
from conveyor_worker.worker import Worker
from integration.ingest.ingest_support import (
    QUEUES,
    Api,
    auth,
    entries,
    get_json,
    make_token,
    post_task,
    until,
)

PARTITIONS = (("default", 4),)
ADMIN = make_token(sub="root", scope="admin")
# Keys whose partition (CRC-32 mod 4) is known: see tests/unit/test_partition_routing.py.
KEY_P3, KEY_P2 = "customer-2", "acme"


@pytest.fixture
def redis_settings(redis_url: str, keys: Keys) -> RedisSettings:
    """The app's settings: queue ``default`` has 4 partitions."""
    return RedisSettings(
        redis_url=redis_url, key_prefix=keys.prefix, queues=QUEUES, queue_partitions=PARTITIONS
    )


@pytest.fixture
def api_keys(keys: Keys) -> Keys:
    """The test's keys with the same partitions as the app."""
    return Keys(keys.prefix, QUEUES, PARTITIONS)


async def _ids(redis: Redis, qk: QueueKeys) -> list[str]:
    return [decode_envelope(i, f, qk.queue).id for i, f in await entries(redis, qk.tasks)]


async def _types(redis: Redis, qk: QueueKeys) -> list[str]:
    return [decode_envelope(i, f, qk.queue).type for i, f in await entries(redis, qk.tasks)]


async def _lengths(api: Api) -> list[int]:
    return [await api.redis.xlen(qk.tasks) for qk in api.keys.shards("default")]


async def test_one_key_lands_in_one_partition_in_acceptance_order(api: Api) -> None:
    ids = []
    for n in range(5):
        status, body = await post_task(api, {"type": "t.x", "payload": n, "partition_key": KEY_P3})
        assert status == 202, body
        ids.append(body["data"]["id"])
    shard = api.keys.route("default", KEY_P3)
    assert shard.partition == 3
    assert await _ids(api.redis, shard) == ids
    assert await _lengths(api) == [0, 0, 0, 5]
    [(entry_id, fields), *_] = await entries(api.redis, shard.tasks)
    assert decode_envelope(entry_id, fields, "default").partition_key == KEY_P3


async def test_a_batch_of_many_keys_reaches_every_partition_each_by_its_key(api: Api) -> None:
    tasks: list[dict[str, Any]] = [
        {"type": "t.x", "payload": n, "partition_key": f"k{n}"} for n in range(40)
    ]
    response = await api.client.post("/api/v1/tasks/batch", json={"tasks": tasks}, headers=auth())
    assert response.status == 202, await response.text()
    items = (await response.json())["data"]["items"]
    for item, task in zip(items, tasks, strict=True):
        assert item["id"] in await _ids(api.redis, api.keys.route("default", task["partition_key"]))
    assert all(length > 0 for length in await _lengths(api))
    assert sum(await _lengths(api)) == 40


async def test_tasks_without_a_key_spread_per_request_and_a_batch_stays_together(api: Api) -> None:
    for n in range(24):
        assert (await post_task(api, {"type": "t.x", "payload": n}))[0] == 202
    assert sum(1 for length in await _lengths(api) if length) > 1
    batch = {"tasks": [{"type": "t.y", "payload": n} for n in range(10)]}
    response = await api.client.post("/api/v1/tasks/batch", json=batch, headers=auth())
    assert response.status == 202
    batch_types = [
        [t for t in await _types(api.redis, qk) if t == "t.y"] for qk in api.keys.shards("default")
    ]
    assert sorted(len(types) for types in batch_types) == [0, 0, 0, 10]


async def test_idempotency_key_needs_one_partition_and_replays_from_it(api: Api) -> None:
    spread = {"tasks": [{"type": "t.x", "partition_key": key} for key in (KEY_P3, KEY_P2)]}
    headers = {**auth(), "Idempotency-Key": "b-1"}
    response = await api.client.post("/api/v1/tasks/batch", json=spread, headers=headers)
    assert response.status == 422
    assert "partition" in await response.text()
    assert await _lengths(api) == [0, 0, 0, 0]
    same = {"tasks": [{"type": "t.x", "partition_key": KEY_P2}] * 2}
    first = await api.client.post("/api/v1/tasks/batch", json=same, headers=headers)
    again = await api.client.post("/api/v1/tasks/batch", json=same, headers=headers)
    assert first.status == again.status == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await first.json() == await again.json()
    unkeyed = {"type": "t.z"}
    once = await post_task(api, unkeyed, **{"Idempotency-Key": "single"})
    twice = await post_task(api, unkeyed, **{"Idempotency-Key": "single"})
    assert once == twice
    # Unkeyed tasks of a keyed request go where the client's Idempotency-Key routes.
    lengths = await _lengths(api)
    lengths[api.keys.route("default", "alice:single").partition] -= 1
    assert lengths == [0, 0, 2, 0]


@pytest.mark.parametrize("bad", ["", "a\x00b", "x" * 201, 5])
async def test_invalid_partition_keys_get_422(api: Api, bad: Any) -> None:
    status, body = await post_task(api, {"type": "t.x", "partition_key": bad})
    assert status == 422, body
    assert body["errors"][0]["loc"].endswith("partition_key")
    assert await _lengths(api) == [0, 0, 0, 0]


async def test_cloudevent_partitionkey_extension_routes_the_task(api: Api) -> None:
    event = {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "order.created",
             "partitionkey": KEY_P2}  # fmt: skip
    response = await api.client.post(
        "/api/v1/events",
        data=json.dumps(event),
        headers={**auth(), "Content-Type": "application/cloudevents+json"},
    )
    assert response.status == 202, await response.text()
    assert await _lengths(api) == [0, 0, 1, 0]


async def test_get_list_change_and_cancel_find_a_task_in_any_partition(api: Api) -> None:
    body = {"type": "t.x", "payload": 1, "delay": 600, "partition_key": KEY_P3}
    _, created = await post_task(api, body)
    task_id = created["data"]["id"]
    await post_task(api, {"type": "t.y", "delay": 600, "partition_key": KEY_P2})
    status, shown = await get_json(api, f"/api/v1/tasks/{task_id}")
    assert (status, shown["data"]["status"]) == (200, "scheduled")
    _, listed = await get_json(api, "/api/v1/tasks?queue=default")
    assert {item["type"] for item in listed["data"]["items"]} == {"t.x", "t.y"}
    changed = await api.client.put(f"/api/v1/tasks/{task_id}", json={"payload": 2}, headers=auth())
    assert changed.status == 202, await changed.text()
    cancelled = await api.client.delete(f"/api/v1/tasks/{task_id}", headers=auth())
    assert cancelled.status == 202, await cancelled.text()
    p3 = api.keys.queue("default~3")
    assert len(await entries(api.redis, p3.control)) == 2  # the change and the cancel
    assert await api.redis.xlen(api.keys.queue("default").control) == 0
    assert (await get_json(api, f"/api/v1/tasks/{task_id}"))[1]["data"]["status"] == "cancelled"


async def test_queue_figures_sum_the_partitions_and_list_each(api: Api) -> None:
    await post_task(api, {"type": "t.x", "partition_key": KEY_P3})
    await post_task(api, {"type": "t.x", "partition_key": KEY_P3})
    await post_task(api, {"type": "t.x", "partition_key": KEY_P2})
    _, body = await get_json(api, "/api/v1/queues", ADMIN)
    default, other = body["data"]["items"]
    assert (default["queue"], default["depth"]) == ("default", 3)
    assert [part["depth"] for part in default["partitions"]] == [0, 0, 1, 2]
    assert [part["partition"] for part in default["partitions"]] == [0, 1, 2, 3]
    assert "partitions" not in other


async def test_dead_letters_are_addressed_by_partition_and_replay_into_it(api: Api) -> None:
    p2 = api.keys.queue("default~2")
    env = new_envelope("t.x", {"x": 1}, "default", subject="alice", partition_key=KEY_P2)
    fields: Any = dead_fields(env.to_fields(), DeadReason.EXHAUSTED, "boom", 3, now_ms(), "1-0")
    added: Any = await api.redis.xadd(p2.dead, fields)
    entry_id = added.decode()
    _, listed = await get_json(api, "/api/v1/dead-letters?queue=default&partition=2", ADMIN)
    assert [(i["entry_id"], i["partition"]) for i in listed["data"]["items"]] == [(entry_id, 2)]
    assert (await get_json(api, "/api/v1/dead-letters?queue=default", ADMIN))[1]["data"][
        "items"
    ] == []
    bad = await get_json(api, "/api/v1/dead-letters?queue=default&partition=4", ADMIN)
    assert bad[0] == 422
    path = f"/api/v1/dead-letters/default/{entry_id}"
    assert (await get_json(api, path, ADMIN))[0] == 404
    replay = await api.client.post(f"{path}/replay?partition=2", headers=auth(ADMIN))
    assert replay.status == 202, await replay.text()
    [(new_id, new_fields)] = await entries(api.redis, p2.tasks)
    assert decode_envelope(new_id, new_fields, "default").partition_key == KEY_P2
    purge = await api.client.delete("/api/v1/dead-letters?queue=default", headers=auth(ADMIN))
    assert (await purge.json())["data"]["deleted"] == 1


async def test_a_worker_drains_every_partition_and_the_read_model_follows_each(api: Api) -> None:
    ids = []
    for n in range(12):
        _, body = await post_task(api, {"type": "demo.echo", "payload": n, "partition_key": f"{n}"})
        ids.append(body["data"]["id"])
    assert all(await _lengths(api))
    worker = Worker(api.redis, WorkerSettings(block_ms=50, breaker_enabled=False), examples,
                    api.keys, consumer="w-parts")  # fmt: skip
    await worker.run(burst=True)

    async def all_succeeded() -> bool:
        for task_id in ids:
            _, body = await get_json(api, f"/api/v1/tasks/{task_id}")
            if body["data"]["status"] != "succeeded":
                return False
        return True

    await until(all_succeeded, "every partition's tasks shown as succeeded")
