"""POST /api/v1/events conforms to the CloudEvents 1.0 HTTP binding (structured, binary, batch).

Extension attributes are accepted and carried on the task (``event_attributes``, shown
by GET), ``data_base64`` is decoded, ``time`` must be RFC 3339, a batch is a JSON array
with per-item error paths, and ``traceparent`` continues the event's trace.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from conveyor.deadletter import DeadReason, dead_fields
from conveyor.envelope import TaskEnvelope, decode_envelope
from conveyor.events import TaskEventType, event_fields
from conveyor.settings import RedisSettings
from conveyor_ingest.app import create_app
from conveyor_ingest.event_models import MAX_EXTENSIONS, is_rfc3339
from conveyor_ingest.settings import IngestSettings
from conveyor_ingest.store import now_ms
from integration.ingest.ingest_support import Api, auth, entries, get_json, make_token, until
from tracing_globals import recorded_spans

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
EVENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
EVENT_SPAN = "00f067aa0ba902b7"
EVENT_PARENT = f"00-{EVENT_TRACE}-{EVENT_SPAN}-01"


def event(**attributes: Any) -> dict[str, Any]:
    base = {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": "order.created"}
    return {**base, **attributes}


async def post(api: Api, body: Any, content_type: str = STRUCTURED) -> tuple[int, Any]:
    response = await api.client.post(
        "/api/v1/events", data=json.dumps(body), headers={**auth(), "Content-Type": content_type}
    )
    return response.status, await response.json()


async def written(api: Api, queue: str = "default") -> list[TaskEnvelope]:
    found = await entries(api.redis, api.keys.queue(queue).tasks)
    return [decode_envelope(entry_id, fields, queue) for entry_id, fields in found]


def locs(body: Any) -> list[str]:
    return [error["loc"] for error in body["errors"]]


async def test_structured_extensions_are_kept_on_the_task_and_shown_by_get(api: Api) -> None:
    sent = event(time="2026-01-01T12:00:00.5+01:00", subject="order/5", myext="x", count=5,
                 flag=True, unsetext=None, data={"order": 5})  # fmt: skip
    status, body = await post(api, sent)
    assert status == 202, body
    (env,) = await written(api)
    expected = {"id": "e-1", "time": "2026-01-01T12:00:00.5+01:00", "subject": "order/5",
                "myext": "x", "count": "5", "flag": "true"}  # fmt: skip
    assert json.loads(env.event_attributes) == expected
    assert env.payload == {"order": 5}
    status, view = await get_json(api, f"/api/v1/tasks/{body['data']['id']}")
    assert status == 200
    assert view["data"]["event_attributes"] == expected
    # The first lifecycle event turns the accepted record into the record hash: kept there.
    fields = event_fields(TaskEventType.STARTED, env, now_ms())
    await api.redis.xadd(api.keys.queue("default").events, fields)  # type: ignore[arg-type]

    async def running() -> Any:
        _, got = await get_json(api, f"/api/v1/tasks/{env.id}")
        return got["data"] if got["data"]["status"] == "running" else None

    assert (await until(running, "the task running"))["event_attributes"] == expected


async def test_binary_extension_headers_are_percent_decoded_and_kept(api: Api) -> None:
    headers = {**auth(), "ce-specversion": "1.0", "ce-id": "e-2", "ce-source": "/crm",
               "ce-type": "lead.new", "ce-myext": "x", "ce-note": "Euro%20%E2%82%AC",
               "Content-Type": "application/json"}  # fmt: skip
    response = await api.client.post("/api/v1/events", data=b'{"lead": 1}', headers=headers)
    assert response.status == 202, await response.text()
    (env,) = await written(api)
    attributes = json.loads(env.event_attributes)
    assert attributes["myext"] == "x"
    assert attributes["note"] == "Euro \u20ac"
    assert attributes["datacontenttype"] == "application/json"
    assert env.payload == {"lead": 1}


async def test_bad_extension_names_types_and_counts_get_a_422_naming_them(api: Api) -> None:
    status, body = await post(api, event(MyExt="x", ok="y", bad=1.5, big=2**31))
    assert status == 422
    assert sorted(locs(body)) == ["MyExt", "bad", "big"]
    many = {f"ext{i}": "v" for i in range(MAX_EXTENSIONS + 1)}
    status, body = await post(api, event(**many))
    assert status == 422
    assert f"at most {MAX_EXTENSIONS}" in body["errors"][0]["msg"]
    status, body = await post(api, event(long="x" * 1025))
    assert (status, locs(body)) == (422, ["long"])
    headers = {**auth(), "ce-specversion": "1.0", "ce-id": "e", "ce-source": "/s",
               "ce-type": "t.t", "ce-my-ext": "x"}  # fmt: skip
    response = await api.client.post("/api/v1/events", data=b"", headers=headers)
    assert response.status == 422
    assert locs(await response.json()) == ["ce-my-ext"]
    valid = {k: v for k, v in headers.items() if k != "ce-my-ext"}
    for header in ("ce-datacontenttype", "ce-data"):
        extra = {**valid, header: "x"}
        response = await api.client.post("/api/v1/events", data=b"", headers=extra)
        assert locs(await response.json()) == [header]
    missing = {k: v for k, v in valid.items() if k != "ce-id"}
    response = await api.client.post("/api/v1/events", data=b"", headers=missing)
    assert locs(await response.json()) == ["ce-id"]
    assert await written(api) == []


async def test_data_base64_is_decoded_and_binary_data_travels_as_base64(api: Api) -> None:
    as_json = base64.b64encode(b'{"n": 1}').decode()
    status, _ = await post(api, event(datacontenttype="application/json", data_base64=as_json))
    assert status == 202
    raw = bytes(range(256))
    binary = base64.b64encode(raw).decode()
    status, _ = await post(api, event(id="e-2", datacontenttype="image/png", data_base64=binary))
    assert status == 202
    headers = {**auth(), "ce-specversion": "1.0", "ce-id": "e-3", "ce-source": "/s",
               "ce-type": "t.t", "Content-Type": "application/octet-stream"}  # fmt: skip
    response = await api.client.post("/api/v1/events", data=raw, headers=headers)
    assert response.status == 202, await response.text()
    first, second, third = await written(api)
    assert first.payload == {"n": 1}
    assert base64.b64decode(second.payload) == raw
    assert json.loads(second.event_attributes)["datacontenttype"] == "image/png"
    assert base64.b64decode(third.payload) == raw
    assert json.loads(third.event_attributes)["datacontenttype"] == "application/octet-stream"


async def test_ids_that_would_make_an_undecodable_effect_key_are_refused(api: Api) -> None:
    status, body = await post(api, event(id="a{b}", source="/x}"))
    assert (status, sorted(locs(body))) == (422, ["id", "source"])
    assert await written(api) == []


async def test_bad_data_base64_and_both_data_members_are_refused(api: Api) -> None:
    status, body = await post(api, event(data_base64="not base64!"))
    assert (status, locs(body)) == (422, ["data_base64"])
    status, body = await post(api, event(data={"a": 1}, data_base64="AAAA"))
    assert (status, locs(body)) == (422, ["data_base64"])


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-02-30T00:00:00Z", "2026-01-01 12:00:00Z", "2026-01-01T12:00:00"]
)
async def test_time_must_be_rfc3339(api: Api, value: str) -> None:
    status, body = await post(api, event(time=value))
    assert (status, locs(body)) == (422, ["time"])


def test_rfc3339_accepts_offsets_fractions_and_leap_seconds() -> None:
    good = ["2026-01-01T00:00:00Z", "2026-01-01t00:00:00.123456z", "2016-12-31T23:59:60Z",
            "2026-06-01T08:30:00-07:00"]  # fmt: skip
    assert all(is_rfc3339(value) for value in good)
    assert not any(is_rfc3339(v) for v in ["2026-01-01T24:00:00Z", "2026-01-01T00:00:00+24:00"])


async def test_batch_mode_accepts_an_array_and_reports_each_bad_item(api: Api) -> None:
    batch = [event(id="a", data=1), event(id="b", data=2, queue="other")]
    status, body = await post(api, batch, BATCH)
    assert status == 202, body
    assert body["data"]["accepted"] == 2
    assert [item["index"] for item in body["data"]["items"]] == [0, 1]
    assert [env.payload for env in await written(api)] == [1]
    assert [env.payload for env in await written(api, "other")] == [2]
    bad = [event(id="c"), event(time="yesterday"), {"specversion": "1.0"}]
    status, body = await post(api, bad, BATCH)
    assert status == 422
    assert locs(body) == ["1.time", "2.id", "2.source", "2.type"]
    status, body = await post(api, event(), BATCH)
    assert (status, locs(body)) == (422, ["body"])
    status, body = await post(api, [], BATCH)
    assert (status, body["data"]) == (202, {"accepted": 0, "items": []})
    assert len(await written(api)) == 1


async def test_traceparent_attribute_is_carried_without_tracing(api: Api) -> None:
    status, _ = await post(api, event(traceparent=EVENT_PARENT, tracestate="a=1"))
    assert status == 202
    (env,) = await written(api)
    assert (env.traceparent, env.tracestate) == (EVENT_PARENT, "a=1")
    status, body = await post(api, event(id="e-2", traceparent="garbage"))
    assert (status, locs(body)) == (422, ["traceparent"])


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


async def test_traceparent_attribute_is_the_parent_of_the_ingest_span(
    redis_settings: RedisSettings, exporter: InMemorySpanExporter
) -> None:
    app = create_app(IngestSettings(auth_enabled=False), redis_settings, consume=False)
    async with TestClient(TestServer(app)) as client:
        headers = {"Content-Type": STRUCTURED, "traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}
        body = json.dumps(event(traceparent=EVENT_PARENT))
        response = await client.post("/api/v1/events", data=body, headers=headers)
        assert response.status == 202, await response.text()
    (producer,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert producer.parent is not None
    assert format(producer.parent.trace_id, "032x") == EVENT_TRACE
    assert format(producer.parent.span_id, "016x") == EVENT_SPAN


async def test_a_replayed_dead_letter_keeps_its_event_attributes(api: Api) -> None:
    status, _ = await post(api, event(myext="x"))
    assert status == 202
    (env,) = await written(api)
    fields = dead_fields(env.to_fields(), DeadReason.EXHAUSTED, "boom", 3, now_ms(), "1-0")
    entry = await api.redis.xadd(api.keys.queue("default").dead, fields)  # type: ignore[arg-type]
    admin = make_token(sub="root", scope="admin")
    entry_id = entry.decode() if isinstance(entry, bytes) else str(entry)
    path = f"/api/v1/dead-letters/default/{entry_id}/replay"
    response = await api.client.post(path, headers=auth(admin))
    assert response.status == 202, await response.text()
    _, replayed = await written(api)
    assert replayed.event_attributes == env.event_attributes
