"""/api/v1/dead-letters: list, show, replay (one or by filter) and purge. Admin scope.

A replay is a new task (new id, attempt 1, origin ``replay``, ``replay_of`` = the
original task id in the read model), built and written by the library's write path
(``conveyor.producing.replay``). Replaying one dead letter twice returns the first
replay's answer: the replay is written under an idempotency record keyed by the
dead-letter entry id, in the same atomic step as its XADD.

A partitioned queue has a dead-letter stream per partition: ``?partition=N``
(default 0) picks it; replay-by-filter and purge cover every partition unless
one is given. A replay goes back to the partition its dead letter came from.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis import exceptions as redis_errors

from conveyor.deadletter import DeadLetter, decode_dead_letter
from conveyor.envelope import format_time
from conveyor.errors import EnvelopeDecodeError
from conveyor.keys import QueueKeys
from conveyor.producing.replay import replay_answer, replay_idempotency, replay_task
from conveyor.producing.writes import producer_spans
from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, check_queue, query_int, read_model, services
from conveyor_ingest.models import ReplayFilter
from conveyor_ingest.responses import ApiError, body_text, ok

SCAN_CHUNK = 500
ENTRY_ID = r"{entry_id:\d+-\d+}"

routes = web.RouteTableDef()


def _entries(reply: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    """XRANGE/XREVRANGE reply as (entry id, fields); redis-py types it loosely."""
    return [(entry_id.decode(), dict(fields)) for entry_id, fields in reply or []]


def _show(letter: DeadLetter, qk: QueueKeys) -> dict[str, Any]:
    return {
        "entry_id": letter.entry_id,
        "queue": qk.queue,
        "partition": qk.partition,
        "task_id": letter.task_fields.get("id"),
        "type": letter.task_fields.get("type"),
        "reason": letter.reason.value,
        "error": letter.error,
        "attempts": letter.attempts,
        "dead_at": format_time(datetime.fromtimestamp(letter.at_ms / 1000, tz=UTC)),
        "task_fields": letter.task_fields,
    }


def _shards(request: web.Request, name: str | None = None) -> list[QueueKeys]:
    """The partitions addressed: ``?partition=N``, else every partition of the queue."""
    queue = name or request.match_info.get("queue") or request.query.get("queue", "default")
    check_queue(request, queue)
    shards = services(request).keys.shards(queue)
    if "partition" not in request.query:
        return shards
    return [shards[query_int(request, "partition", 0, 0, len(shards) - 1)]]


def _shard(request: web.Request) -> QueueKeys:
    """The one partition addressed: ``?partition=N``, default 0."""
    return _shards(request)[0]


@routes.get("/api/v1/dead-letters")
async def list_dead(request: web.Request) -> web.Response:
    """Dead letters of a queue, newest first; ``cursor`` is the last entry id seen."""
    authorize(request, Scope.ADMIN, "dead.list")
    qk = _shard(request)
    limit = query_int(request, "limit", 50, 1, 500)
    cursor = request.query.get("cursor")
    upper = f"({cursor}" if cursor else "+"
    svc = services(request)
    try:
        entries = await svc.client.xrevrange(qk.dead, upper, "-", count=limit)
    except redis_errors.ResponseError as exc:
        raise ApiError(422, "invalid cursor: use an entry id such as 1700000000000-0") from exc
    items = [_show(decode_dead_letter(eid, fields), qk) for eid, fields in _entries(entries)]
    next_cursor = items[-1]["entry_id"] if len(items) == limit else None
    return ok({"items": items, "next_cursor": next_cursor})


async def _letter(request: web.Request, qk: QueueKeys, entry_id: str) -> DeadLetter:
    svc = services(request)
    entries = _entries(await svc.client.xrange(qk.dead, entry_id, entry_id))
    if not entries:
        where = f" partition {qk.partition}" if qk.partition else ""
        raise ApiError(404, f"dead letter {entry_id} not found in queue {qk.queue!r}{where}")
    return decode_dead_letter(entry_id, entries[0][1])


@routes.get("/api/v1/dead-letters/{queue}/" + ENTRY_ID)
async def get_dead(request: web.Request) -> web.Response:
    """One dead letter."""
    authorize(request, Scope.ADMIN, "dead.read")
    qk = _shard(request)
    letter = await _letter(request, qk, request.match_info["entry_id"])
    return ok(_show(letter, qk))


async def _replay(request: web.Request, qk: QueueKeys, letter: DeadLetter) -> dict[str, Any]:
    try:
        task = replay_task(letter, qk.queue)
    except EnvelopeDecodeError as exc:
        raise ApiError(409, f"dead letter {letter.entry_id} cannot be replayed: {exc}") from exc
    data = replay_answer(task, letter)
    text = body_text(202, data, "accepted")
    svc = services(request)
    # Back to the partition it died in (the key's partition, whatever N is now), as a new
    # PRODUCER span in the replay request's trace, linked to the original trace.
    with producer_spans(qk, [task], link_existing=True) as sent:
        stored = await svc.store.enqueue(qk.shard, sent, replay_idempotency(letter), (202, text))
    if stored is not None:
        replayed: dict[str, Any] = json.loads(stored.text)["data"]
        return replayed
    return data


@routes.post("/api/v1/dead-letters/{queue}/" + ENTRY_ID + "/replay")
async def replay_one(request: web.Request) -> web.Response:
    """Replay one dead letter as a new task."""
    authorize(request, Scope.ADMIN, "dead.replay")
    qk = _shard(request)
    letter = await _letter(request, qk, request.match_info["entry_id"])
    return ok(await _replay(request, qk, letter), 202)


@routes.post("/api/v1/dead-letters/replay")
async def replay_matching(request: web.Request) -> web.Response:
    """Replay up to ``limit`` dead letters matching ``type`` / ``reason``, oldest first."""
    authorize(request, Scope.ADMIN, "dead.replay_all")
    wanted, _ = await read_model(request, ReplayFilter)
    replayed: list[dict[str, Any]] = []
    skipped = 0
    for qk in _shards(request, wanted.queue):
        skipped += await _replay_shard(request, qk, wanted, replayed)
    return ok({"replayed": replayed, "skipped_undecodable": skipped}, 202)


async def _replay_shard(
    request: web.Request, qk: QueueKeys, wanted: ReplayFilter, replayed: list[dict[str, Any]]
) -> int:
    """Replay one partition's matching dead letters into ``replayed``; returns those skipped."""
    client = services(request).client
    skipped = 0
    start = "-"
    while len(replayed) < wanted.limit:
        entries = _entries(await client.xrange(qk.dead, start, "+", count=SCAN_CHUNK))
        for entry_id, fields in entries:
            letter = decode_dead_letter(entry_id, fields)
            if _wanted(letter, wanted) and len(replayed) < wanted.limit:
                try:
                    replayed.append(await _replay(request, qk, letter))
                except ApiError:
                    skipped += 1
        if len(entries) < SCAN_CHUNK:
            break
        start = "(" + entries[-1][0]
    return skipped


def _wanted(letter: DeadLetter, wanted: ReplayFilter) -> bool:
    if wanted.type is not None and letter.task_fields.get("type") != wanted.type:
        return False
    return wanted.reason is None or letter.reason.value == wanted.reason


@routes.delete("/api/v1/dead-letters/{queue}/" + ENTRY_ID)
async def delete_dead(request: web.Request) -> web.Response:
    """Delete one dead letter."""
    authorize(request, Scope.ADMIN, "dead.delete")
    qk = _shard(request)
    svc = services(request)
    removed = await svc.client.xdel(qk.dead, request.match_info["entry_id"])
    if not removed:
        raise ApiError(404, "dead letter not found")
    return ok({"deleted": 1})


@routes.delete("/api/v1/dead-letters")
async def purge_dead(request: web.Request) -> web.Response:
    """Delete every dead letter of ``?queue=`` (every partition unless ``?partition=``)."""
    authorize(request, Scope.ADMIN, "dead.purge")
    svc = services(request)
    removed = 0
    for qk in _shards(request):
        removed += int(await svc.client.xtrim(qk.dead, maxlen=0, approximate=False))
    return ok({"deleted": removed})
