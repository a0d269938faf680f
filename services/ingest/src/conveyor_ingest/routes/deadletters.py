"""/api/v1/dead-letters: list, show, replay (one or by filter) and purge. Admin scope.

A replay is a new task (new id, attempt 1, origin ``replay``, ``replay_of`` = the
original task id in the read model), built and written by the library's write path
(``conveyor.producing.replay``). Replaying one dead letter twice returns the first
replay's answer: the replay is written under an idempotency record keyed by the
dead-letter entry id, in the same atomic step as its XADD.

A partitioned queue has a dead-letter stream per partition: ``?partition=N``
(default 0) picks it; replay-by-filter and purge cover every partition unless
one is given. A replay goes back to the partition its dead letter came from.
A purge names its queue, or says ``all=true``: nothing is purged by omission.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis import exceptions as redis_errors

from conveyor import jsoncodec
from conveyor.deadletter import DeadLetter, decode_dead_letter
from conveyor.envelope import format_time
from conveyor.errors import EnvelopeDecodeError
from conveyor.keys import QueueKeys
from conveyor.producing.replay import replay_answer, replay_idempotency, replay_task
from conveyor.producing.writes import producer_spans
from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, check_queue, read_model, services
from conveyor_ingest.models import (
    DeadLetterListQuery,
    DeadLetterPage,
    DeadLetterView,
    Deleted,
    PartitionQuery,
    PurgeQuery,
    Replayed,
    ReplayFilter,
    ReplayReport,
)
from conveyor_ingest.operations import ApiRoutes, read_query
from conveyor_ingest.responses import ApiError, body_text, ok, unprocessable

SCAN_CHUNK = 500
DEAD_LETTER = r"/api/v1/dead-letters/{queue}/{entry_id:\d{1,20}-\d{1,20}}"

routes = ApiRoutes()


def _entries(reply: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    """XRANGE/XREVRANGE reply as (entry id, fields); redis-py types it loosely."""
    return [(entry_id.decode(), dict(fields)) for entry_id, fields in reply or []]


def _show(letter: DeadLetter, qk: QueueKeys) -> DeadLetterView:
    return DeadLetterView(
        entry_id=letter.entry_id,
        queue=qk.queue,
        partition=qk.partition,
        task_id=letter.task_fields.get("id"),
        type=letter.task_fields.get("type"),
        reason=letter.reason,
        error=letter.error,
        attempts=letter.attempts,
        dead_at=format_time(datetime.fromtimestamp(letter.at_ms / 1000, tz=UTC)),
        task_fields=letter.task_fields,
    )


def _shards(request: web.Request, queue: str, partition: int | None) -> list[QueueKeys]:
    """The partitions addressed: ``partition``, else every partition of ``queue``."""
    check_queue(request, queue)
    shards = services(request).keys.shards(queue)
    if partition is None:
        return shards
    if partition >= len(shards):
        message = f"queue {queue!r} has partitions 0 to {len(shards) - 1}"
        msg = "invalid query parameter"
        raise unprocessable(msg, [{"loc": "partition", "msg": message}])
    return [shards[partition]]


def _shard(request: web.Request) -> QueueKeys:
    """The one partition of the path's queue addressed: ``?partition=N``, default 0."""
    partition = read_query(request, PartitionQuery).partition
    return _shards(request, request.match_info["queue"], partition or 0)[0]


@routes.operation("GET", "/api/v1/dead-letters", query=DeadLetterListQuery, response=DeadLetterPage)
async def list_dead(request: web.Request) -> web.Response:
    """List dead letters.

    A queue's (partition's) dead letters, newest first; ``cursor`` is the last
    ``entry_id`` seen.
    """
    authorize(request, Scope.ADMIN, "dead.list")
    query = read_query(request, DeadLetterListQuery)
    qk = _shards(request, query.queue, query.partition or 0)[0]
    upper = f"({query.cursor}" if query.cursor else "+"
    svc = services(request)
    try:
        entries = await svc.client.xrevrange(qk.dead, upper, "-", count=query.limit)
    except redis_errors.ResponseError as exc:
        message = "use the entry_id of the last dead letter seen, such as 1700000000000-0"
        msg = "invalid query parameter"
        raise unprocessable(msg, [{"loc": "cursor", "msg": message}]) from exc
    items = [_show(decode_dead_letter(eid, fields), qk) for eid, fields in _entries(entries)]
    next_cursor = items[-1].entry_id if len(items) == query.limit else None
    return ok(DeadLetterPage(items=items, next_cursor=next_cursor))


async def _letter(request: web.Request, qk: QueueKeys, entry_id: str) -> DeadLetter:
    svc = services(request)
    try:
        entries = _entries(await svc.client.xrange(qk.dead, entry_id, entry_id))
    except redis_errors.ResponseError:  # past 2^64-1: no stream entry can have that id
        entries = []
    if not entries:
        raise _no_letter(qk, entry_id)
    return decode_dead_letter(entry_id, entries[0][1])


def _no_letter(qk: QueueKeys, entry_id: str) -> ApiError:
    where = f" partition {qk.partition}" if qk.partition else ""
    return ApiError(404, f"dead letter {entry_id} not found in queue {qk.queue!r}{where}")


@routes.operation("GET", DEAD_LETTER, query=PartitionQuery, response=DeadLetterView)
async def get_dead(request: web.Request) -> web.Response:
    """Read a dead letter."""
    authorize(request, Scope.ADMIN, "dead.read")
    qk = _shard(request)
    letter = await _letter(request, qk, request.match_info["entry_id"])
    return ok(_show(letter, qk))


async def _replay(request: web.Request, qk: QueueKeys, letter: DeadLetter) -> Replayed:
    try:
        task = replay_task(letter, qk.queue)
    except EnvelopeDecodeError as exc:
        raise ApiError(409, f"dead letter {letter.entry_id} cannot be replayed: {exc}") from exc
    data = replay_answer(task, letter)
    text = body_text(202, data)
    svc = services(request)
    # Back to the partition it died in (the key's partition, whatever N is now), as a new
    # PRODUCER span in the replay request's trace, linked to the original trace.
    with producer_spans(qk, [task], link_existing=True) as sent:
        stored = await svc.store.enqueue(qk.shard, sent, replay_idempotency(letter), (202, text))
    if stored is not None:  # replayed before: the first replay's answer
        return Replayed.model_validate(jsoncodec.loads(stored.text)["data"])
    return Replayed.model_validate(data)


@routes.operation(
    "POST", DEAD_LETTER + "/replay", query=PartitionQuery, response=Replayed, status=202,
    errors=(409,),
)  # fmt: skip
async def replay_one(request: web.Request) -> web.Response:
    """Replay a dead letter.

    As a new task; replaying it again answers the first replay.
    """
    authorize(request, Scope.ADMIN, "dead.replay")
    qk = _shard(request)
    letter = await _letter(request, qk, request.match_info["entry_id"])
    return ok(await _replay(request, qk, letter), 202)


@routes.operation(
    "POST", "/api/v1/dead-letters/replay", request=ReplayFilter, query=PartitionQuery,
    response=ReplayReport, status=202,
)  # fmt: skip
async def replay_matching(request: web.Request) -> web.Response:
    """Replay dead letters.

    Up to ``limit`` dead letters matching ``type`` / ``reason``, oldest first, over
    every partition of the queue unless ``?partition=`` names one.
    """
    authorize(request, Scope.ADMIN, "dead.replay_all")
    wanted, _ = await read_model(request, ReplayFilter)
    partition = read_query(request, PartitionQuery).partition
    replayed: list[Replayed] = []
    skipped = 0
    for qk in _shards(request, wanted.queue, partition):
        skipped += await _replay_shard(request, qk, wanted, replayed)
    return ok(ReplayReport(replayed=replayed, skipped_undecodable=skipped), 202)


async def _replay_shard(
    request: web.Request, qk: QueueKeys, wanted: ReplayFilter, replayed: list[Replayed]
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


@routes.operation("DELETE", DEAD_LETTER, query=PartitionQuery, response=Deleted)
async def delete_dead(request: web.Request) -> web.Response:
    """Delete a dead letter."""
    authorize(request, Scope.ADMIN, "dead.delete")
    qk = _shard(request)
    svc = services(request)
    entry_id = request.match_info["entry_id"]
    try:
        removed = await svc.client.xdel(qk.dead, entry_id)
    except redis_errors.ResponseError:  # past 2^64-1: no stream entry can have that id
        removed = 0
    if not removed:
        raise _no_letter(qk, entry_id)
    return ok(Deleted(deleted=1))


@routes.operation("DELETE", "/api/v1/dead-letters", query=PurgeQuery, response=Deleted)
async def purge_dead(request: web.Request) -> web.Response:
    """Purge dead letters.

    Of ``?queue=`` (every partition unless ``?partition=``), or of every configured
    queue with ``?all=true``; one of the two is required.
    """
    authorize(request, Scope.ADMIN, "dead.purge")
    query = read_query(request, PurgeQuery)
    svc = services(request)
    queues = svc.redis_settings.queues if query.queue is None else (query.queue,)
    removed = 0
    for queue in queues:
        for qk in _shards(request, queue, query.partition):
            removed += int(await svc.client.xtrim(qk.dead, maxlen=0, approximate=False))
    return ok(Deleted(deleted=removed))
