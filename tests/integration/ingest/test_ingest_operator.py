"""Operator routes: pause/resume a queue (shown in /queues), list workers; admin only."""

from __future__ import annotations

from conveyor.workers import WorkerRecord
from integration.ingest.ingest_support import Api, auth, get_json


async def test_pause_and_resume_show_in_queues_and_need_admin(api: Api) -> None:
    admin = auth(scope="admin")
    refused = await api.client.post("/api/v1/queues/default/pause", headers=auth())
    assert refused.status == 403
    paused = await (await api.client.post("/api/v1/queues/default/pause", headers=admin)).json()
    assert paused["data"]["paused"] is True
    assert paused["data"]["changed"] is True
    again = await (await api.client.post("/api/v1/queues/default/pause", headers=admin)).json()
    assert again["data"]["changed"] is False
    _, queues = await get_json(api, "/api/v1/queues", auth(scope="admin")["Authorization"][7:])
    assert {q["queue"]: q["paused"] for q in queues["data"]["items"]} == {
        "default": True, "other": False
    }  # fmt: skip
    resumed = await (await api.client.post("/api/v1/queues/default/resume", headers=admin)).json()
    assert (resumed["data"]["paused"], resumed["data"]["changed"]) == (False, True)
    unknown = await api.client.post("/api/v1/queues/nope/pause", headers=admin)
    assert unknown.status == 422


async def test_workers_lists_live_heartbeats(api: Api) -> None:
    record = WorkerRecord("w-1", "h", 1, "0", ("default",), 4, 2, 1, 2, 60_000)
    key = api.keys.worker_heartbeat("w-1")
    await api.redis.hset(key, mapping=record.to_fields())  # type: ignore[arg-type]
    await api.redis.zadd(api.keys.worker_index, {"w-1": 2, "w-gone": 1})
    status, body = await get_json(api, "/api/v1/workers", auth(scope="admin")["Authorization"][7:])
    assert status == 200
    [item] = body["data"]["items"]
    assert (item["consumer"], item["in_flight"], item["queues"]) == ("w-1", 2, ["default"])
