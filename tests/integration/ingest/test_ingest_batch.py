"""POST /api/v1/tasks/batch: per-item results, all validated before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from integration.ingest.ingest_support import Api, auth, entries


async def _batch(api: Api, tasks: list[dict[str, Any]], **headers: str) -> tuple[int, Any]:
    response = await api.client.post(
        "/api/v1/tasks/batch", json={"tasks": tasks}, headers={**auth(), **headers}
    )
    return response.status, await response.json()


async def test_batch_enqueues_every_task_with_per_item_results(api: Api) -> None:
    tasks = [{"type": "demo.echo", "payload": n} for n in range(10)]
    tasks.append({"type": "demo.echo", "queue": "other", "delay": 60})
    status, body = await _batch(api, tasks)
    assert status == 202, body
    items = body["data"]["items"]
    assert [item["index"] for item in items] == list(range(11))
    assert items[-1]["status"] == "scheduled"
    written = await entries(api.redis, api.keys.queue("default").tasks)
    assert [e[1][b"id"].decode() for e in written] == [item["id"] for item in items[:10]]
    assert all(e[1][b"origin"] == b"batch" for e in written)
    assert await api.redis.xlen(api.keys.queue("other").timers_in) == 1


async def test_one_invalid_item_rejects_the_whole_batch(api: Api) -> None:
    tasks: list[dict[str, Any]] = [{"type": "demo.echo"} for _ in range(5)]
    tasks[3] = {"type": "bad type!"}
    tasks.append({"type": "demo.echo", "queue": "nope"})
    status, body = await _batch(api, tasks)
    assert status == 422
    assert body["errors"][0]["loc"].startswith("tasks.3")
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 0


async def test_unknown_queue_item_names_its_index(api: Api) -> None:
    status, body = await _batch(api, [{"type": "demo.echo"}, {"type": "x", "queue": "nope"}])
    assert status == 422
    assert body["errors"][0]["loc"] == "tasks.1.queue"
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 0


class TestMaximum:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_batch": 5}

    async def test_batch_over_the_maximum_or_empty_gets_422(self, api: Api) -> None:
        assert (await _batch(api, [{"type": "demo.echo"}] * 6))[0] == 422
        assert (await _batch(api, []))[0] == 422


async def test_batch_idempotency_key_replays_and_needs_one_queue(api: Api) -> None:
    tasks = [{"type": "demo.echo", "payload": n} for n in range(3)]
    first = await _batch(api, tasks, **{"Idempotency-Key": "b1"})
    second = await _batch(api, tasks, **{"Idempotency-Key": "b1"})
    assert first == second
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 3
    mixed = [{"type": "demo.echo"}, {"type": "demo.echo", "queue": "other"}]
    assert (await _batch(api, mixed, **{"Idempotency-Key": "b2"}))[0] == 422
