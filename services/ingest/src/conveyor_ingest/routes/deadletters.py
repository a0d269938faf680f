"""/api/v1/dead-letters: list, show, replay (one or by filter) and purge. Admin scope.

A replay is a new task (new id, attempt 1, origin ``replay``, ``replay_of`` = the
original task id in the read model). Replaying one dead letter twice returns the
first replay's answer: the replay is written under an idempotency record keyed by
the dead-letter entry id, in the same atomic step as its XADD.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis import exceptions as redis_errors

from conveyor.deadletter import DeadLetter, decode_dead_letter
from conveyor.envelope import decode_envelope, format_time, new_envelope
from conveyor.errors import EnvelopeDecodeError
from conveyor.telemetry.spans import send_spans
from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, check_queue, query_int, read_model, services
from conveyor_ingest.intake import accepted
from conveyor_ingest.models import ReplayFilter
from conveyor_ingest.responses import ApiError, body_text, ok
from conveyor_ingest.store import Idempotency, NewTask

REPLAY_SUBJECT = "_replay"
SCAN_CHUNK = 500
ENTRY_ID = r"{entry_id:\d+-\d+}"

routes = web.RouteTableDef()


def _entries(reply: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    """XRANGE/XREVRANGE reply as (entry id, fields); redis-py types it loosely."""
    return [(entry_id.decode(), dict(fields)) for entry_id, fields in reply or []]


def _show(letter: DeadLetter, queue: str) -> dict[str, Any]:
    return {
        "entry_id": letter.entry_id,
        "queue": queue,
        "task_id": letter.task_fields.get("id"),
        "type": letter.task_fields.get("type"),
        "reason": letter.reason.value,
        "error": letter.error,
        "attempts": letter.attempts,
        "dead_at": format_time(datetime.fromtimestamp(letter.at_ms / 1000, tz=UTC)),
        "task_fields": letter.task_fields,
    }


def _queue(request: web.Request, name: str | None = None) -> str:
    queue = name or request.match_info.get("queue") or request.query.get("queue", "default")
    check_queue(request, queue)
    return queue


@routes.get("/api/v1/dead-letters")
async def list_dead(request: web.Request) -> web.Response:
    """Dead letters of a queue, newest first; ``cursor`` is the last entry id seen."""
    authorize(request, Scope.ADMIN, "dead.list")
    queue = _queue(request)
    limit = query_int(request, "limit", 50, 1, 500)
    cursor = request.query.get("cursor")
    upper = f"({cursor}" if cursor else "+"
    svc = services(request)
    try:
        entries = await svc.client.xrevrange(svc.keys.queue(queue).dead, upper, "-", count=limit)
    except redis_errors.ResponseError as exc:
        raise ApiError(422, "invalid cursor: use an entry id such as 1700000000000-0") from exc
    items = [_show(decode_dead_letter(eid, fields), queue) for eid, fields in _entries(entries)]
    next_cursor = items[-1]["entry_id"] if len(items) == limit else None
    return ok({"items": items, "next_cursor": next_cursor})


async def _letter(request: web.Request, queue: str, entry_id: str) -> DeadLetter:
    svc = services(request)
    entries = _entries(await svc.client.xrange(svc.keys.queue(queue).dead, entry_id, entry_id))
    if not entries:
        raise ApiError(404, f"dead letter {entry_id} not found in queue {queue!r}")
    return decode_dead_letter(entry_id, entries[0][1])


@routes.get("/api/v1/dead-letters/{queue}/" + ENTRY_ID)
async def get_dead(request: web.Request) -> web.Response:
    """One dead letter."""
    authorize(request, Scope.ADMIN, "dead.read")
    queue = _queue(request)
    letter = await _letter(request, queue, request.match_info["entry_id"])
    return ok(_show(letter, queue))


async def _replay(request: web.Request, queue: str, letter: DeadLetter) -> dict[str, Any]:
    try:
        original = decode_envelope(letter.entry_id, letter.task_fields, queue)
    except EnvelopeDecodeError as exc:
        raise ApiError(409, f"dead letter {letter.entry_id} cannot be replayed: {exc}") from exc
    envelope = new_envelope(
        original.type,
        original.payload,
        queue,
        source=original.source,
        max_attempts=original.max_attempts,
        timeout=original.timeout,
        subject=original.subject,
        origin="replay",
        traceparent=original.traceparent,
        tracestate=original.tracestate,
    )
    task = NewTask(envelope=envelope, replay_of=original.id)
    data = {**accepted(task), "replay_of": original.id, "dead_entry_id": letter.entry_id}
    idem = Idempotency(REPLAY_SUBJECT, letter.entry_id, "replay")
    text = body_text(202, data, "accepted")
    svc = services(request)
    # A new PRODUCER span (in the replay request's trace) linked to the original trace.
    with send_spans([svc.keys.queue(queue).tasks], [envelope], link_existing=True) as (sent,):
        stored = await svc.store.enqueue(queue, [replace(task, envelope=sent)], idem, (202, text))
    if stored is not None:
        replayed: dict[str, Any] = json.loads(stored.text)["data"]
        return replayed
    return data


@routes.post("/api/v1/dead-letters/{queue}/" + ENTRY_ID + "/replay")
async def replay_one(request: web.Request) -> web.Response:
    """Replay one dead letter as a new task."""
    authorize(request, Scope.ADMIN, "dead.replay")
    queue = _queue(request)
    letter = await _letter(request, queue, request.match_info["entry_id"])
    return ok(await _replay(request, queue, letter), 202)


@routes.post("/api/v1/dead-letters/replay")
async def replay_matching(request: web.Request) -> web.Response:
    """Replay up to ``limit`` dead letters matching ``type`` / ``reason``, oldest first."""
    authorize(request, Scope.ADMIN, "dead.replay_all")
    wanted, _ = await read_model(request, ReplayFilter)
    queue = _queue(request, wanted.queue)
    svc = services(request)
    replayed: list[dict[str, Any]] = []
    skipped = 0
    start = "-"
    while len(replayed) < wanted.limit:
        reply = await svc.client.xrange(svc.keys.queue(queue).dead, start, "+", count=SCAN_CHUNK)
        entries = _entries(reply)
        for entry_id, fields in entries:
            letter = decode_dead_letter(entry_id, fields)
            if _wanted(letter, wanted) and len(replayed) < wanted.limit:
                try:
                    replayed.append(await _replay(request, queue, letter))
                except ApiError:
                    skipped += 1
        if len(entries) < SCAN_CHUNK:
            break
        start = "(" + entries[-1][0]
    return ok({"replayed": replayed, "skipped_undecodable": skipped}, 202)


def _wanted(letter: DeadLetter, wanted: ReplayFilter) -> bool:
    if wanted.type is not None and letter.task_fields.get("type") != wanted.type:
        return False
    return wanted.reason is None or letter.reason.value == wanted.reason


@routes.delete("/api/v1/dead-letters/{queue}/" + ENTRY_ID)
async def delete_dead(request: web.Request) -> web.Response:
    """Delete one dead letter."""
    authorize(request, Scope.ADMIN, "dead.delete")
    queue = _queue(request)
    svc = services(request)
    removed = await svc.client.xdel(svc.keys.queue(queue).dead, request.match_info["entry_id"])
    if not removed:
        raise ApiError(404, "dead letter not found")
    return ok({"deleted": 1})


@routes.delete("/api/v1/dead-letters")
async def purge_dead(request: web.Request) -> web.Response:
    """Delete every dead letter of ``?queue=``."""
    authorize(request, Scope.ADMIN, "dead.purge")
    queue = _queue(request)
    svc = services(request)
    removed = await svc.client.xtrim(svc.keys.queue(queue).dead, maxlen=0, approximate=False)
    return ok({"deleted": int(removed)})
