"""Idempotency-Key: replay, conflict, concurrency, per-client scope."""

from __future__ import annotations

import asyncio

from conveyor.envelope import decode_envelope
from integration.ingest.ingest_support import Api, auth, entries, make_token, post_task

BODY = {"type": "demo.echo", "payload": {"order": 7}}


async def test_retry_with_same_key_and_body_gets_the_identical_response(api: Api) -> None:
    first = await post_task(api, BODY, **{"Idempotency-Key": "k1"})
    second = await post_task(api, BODY, **{"Idempotency-Key": "k1"})
    assert first[0] == second[0] == 202
    assert first[1] == second[1]
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 1


async def test_same_key_with_another_body_gets_422(api: Api) -> None:
    await post_task(api, BODY, **{"Idempotency-Key": "k2"})
    status, body = await post_task(api, {**BODY, "payload": 8}, **{"Idempotency-Key": "k2"})
    assert status == 422
    assert "Idempotency-Key" in body["message"]
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 1


async def test_fifty_concurrent_duplicates_create_exactly_one_task(api: Api) -> None:
    token = make_token()

    async def one() -> tuple[int, str]:
        response = await api.client.post(
            "/api/v1/tasks", json=BODY, headers={**auth(token), "Idempotency-Key": "burst"}
        )
        return response.status, await response.text()

    results = await asyncio.gather(*(one() for _ in range(50)))
    assert {status for status, _ in results} == {202}
    assert len({text for _, text in results}) == 1
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 1


async def test_keys_are_scoped_per_client_and_expire(api: Api) -> None:
    await post_task(api, BODY, **{"Idempotency-Key": "shared"})
    response = await api.client.post(
        "/api/v1/tasks",
        json=BODY,
        headers={**auth(make_token(sub="bob")), "Idempotency-Key": "shared"},
    )
    assert response.status == 202
    assert await api.redis.xlen(api.keys.queue("default").tasks) == 2
    ttl = await api.redis.pttl(api.keys.queue("default").idempotency("alice", "shared"))
    assert 0 < ttl <= api.settings.idempotency_ttl * 1000


async def test_invalid_key_gets_422(api: Api) -> None:
    status, _ = await post_task(api, BODY, **{"Idempotency-Key": "x" * 201})
    assert status == 422


async def test_the_task_carries_the_client_scoped_key_for_its_effects(api: Api) -> None:
    await post_task(api, BODY, **{"Idempotency-Key": "pay-1"})
    await post_task(api, {**BODY, "payload": 9})
    batch = await api.client.post(
        "/api/v1/tasks/batch",
        json={"tasks": [BODY, {**BODY, "payload": 10}]},
        headers={**auth(make_token()), "Idempotency-Key": "b-1"},
    )
    assert batch.status == 202
    stream = api.keys.queue("default").tasks
    written = await entries(api.redis, stream)
    keys = [
        decode_envelope(entry_id, fields, "default").idempotency_key for entry_id, fields in written
    ]
    assert keys == ["alice:pay-1", "", "alice:b-1:0", "alice:b-1:1"]


async def test_subjects_and_keys_with_colons_never_share_a_record_or_an_effect_mark(
    api: Api,
) -> None:
    """Issue 12: ``a`` + ``b:c-1`` and ``a:b`` + ``c-1`` are two clients' two requests."""
    first = await api.client.post(
        "/api/v1/tasks",
        json=BODY,
        headers={**auth(make_token(sub="a")), "Idempotency-Key": "b:c-1"},
    )
    second = await api.client.post(
        "/api/v1/tasks",
        json=BODY,
        headers={**auth(make_token(sub="a:b")), "Idempotency-Key": "c-1"},
    )
    assert (first.status, second.status) == (202, 202)
    assert "Idempotent-Replayed" not in second.headers
    ids = [(await first.json())["data"]["id"], (await second.json())["data"]["id"]]
    assert ids[0] != ids[1]
    own = await api.client.get(f"/api/v1/tasks/{ids[1]}", headers=auth(make_token(sub="a:b")))
    assert own.status == 200
    qk = api.keys.queue("default")
    written = [decode_envelope(i, f, "default") for i, f in await entries(api.redis, qk.tasks)]
    assert [env.id for env in written] == ids
    marks = {qk.effect_mark(env.effective_idempotency_key) for env in written}
    assert len(marks) == 2
    assert qk.idempotency("a", "b:c-1") != qk.idempotency("a:b", "c-1")
