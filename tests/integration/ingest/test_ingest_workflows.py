"""POST/GET/DELETE /api/v1/workflows: shapes refused with what to fix, visibility per client."""

from __future__ import annotations

from typing import Any

import pytest

from integration.ingest.ingest_support import Api, auth, make_token

WORKFLOWS = "/api/v1/workflows"


async def _post(api: Api, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    response = await api.client.post(WORKFLOWS, json=body, headers=auth(token))
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"steps": [{"type": "a.b"}], "members": [{"type": "a.b"}]}, "body"),
        ({"callback": [{"type": "a.b"}], "steps": [{"type": "a.b"}]}, "body"),
        ({"steps": []}, "steps"),
        ({"steps": [{"type": "a.b"}, {"type": "c.d", "payload": [1]}]}, "body.steps[1].payload"),
        ({"steps": [{"type": "a.b"}], "queue": "nope"}, "queue"),
    ],
)
async def test_bad_workflows_get_422_naming_what_to_fix(
    api: Api, body: dict[str, Any], loc: str
) -> None:
    status, answer = await _post(api, body)
    assert status == 422, answer
    assert [e["loc"] for e in answer["errors"]] == [loc], answer


async def test_a_workflow_is_read_by_its_client_only(api: Api) -> None:
    status, created = await _post(
        api, {"members": [{"type": "a.b"}], "callback": [{"type": "c.d"}]}
    )
    assert status == 202
    data = created["data"]
    assert (data["kind"], [s["state"] for s in data["steps"]]) == ("chord", ["pending", "waiting"])
    path = f"{WORKFLOWS}/{data['id']}"
    mine = await api.client.get(path, headers=auth())
    assert mine.status == 200
    assert (await mine.json())["data"]["status"] == "running"
    theirs = await api.client.get(path, headers=auth(make_token(sub="bob")))
    assert theirs.status == 404
    missing = await api.client.get(f"{WORKFLOWS}/nope", headers=auth())
    assert missing.status == 404


async def test_a_key_replays_its_workflow_and_refuses_another_body(api: Api) -> None:
    body = {"steps": [{"type": "a.b", "payload": 1}, {"type": "c.d"}]}
    headers = {**auth(), "Idempotency-Key": "wf-k"}
    first = await api.client.post(WORKFLOWS, json=body, headers=headers)
    again = await api.client.post(WORKFLOWS, json=body, headers=headers)
    assert (first.status, again.status) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["data"]["id"] == (await first.json())["data"]["id"]
    other = await api.client.post(WORKFLOWS, json={"steps": [{"type": "a.b"}]}, headers=headers)
    assert other.status == 422
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 1
