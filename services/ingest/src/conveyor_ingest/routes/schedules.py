"""/api/v1/schedules: cron schedules, published on the schedule-changes stream.

POST creates (409 when the id exists), PUT replaces an existing schedule whole (404
otherwise; ``created_at_ms`` is kept unless the body gives one), DELETE removes one
(404 when unknown). Each is one atomic step (schedule_writes.py) and answers 202: the
scheduler applies the change right after. Ingest's listing shows an accepted change at
once. A schedule that can never fire again (30 February, years all past, an end_at
before its next instant) is refused with 422 at the field. Answers carry the next fire
times and a description.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from conveyor import jsoncodec
from conveyor.cron import describe_cron
from conveyor.envelope import format_time
from conveyor.schedules import ScheduleDefinition, never_fires, upcoming
from conveyor_ingest.auth import Scope
from conveyor_ingest.context import (
    authorize,
    check_queue,
    parse_model,
    read_body,
    read_json_object,
    services,
)
from conveyor_ingest.models import ScheduleDeleted, ScheduleList, ScheduleView
from conveyor_ingest.operations import ApiRoutes
from conveyor_ingest.responses import ApiError, ok, unprocessable
from conveyor_ingest.schedule_writes import Outcome, ScheduleWriter, WriteOp

NEXT_FIRES = 5
SCHEDULE = "/api/v1/schedules/{schedule_id:[A-Za-z0-9][A-Za-z0-9_.-]{0,127}}"
REPLACE_TRIES = 5  # a replace re-reads its base when another change won the race

routes = ApiRoutes()


def describe(definition: ScheduleDefinition) -> dict[str, Any]:
    """A schedule with its next fire times and a human description (a ScheduleView)."""
    fires = upcoming(definition, datetime.now(UTC), NEXT_FIRES)
    return {
        "schedule": jsoncodec.loads(definition.model_dump_json()),
        "description": describe_cron(definition.cron),
        "next_fires": [format_time(moment) for moment in fires],
    }


def _writer(request: web.Request) -> ScheduleWriter:
    svc = services(request)
    return ScheduleWriter(svc.client, svc.keys)


def _definition(request: web.Request, body: dict[str, Any]) -> ScheduleDefinition:
    """``body`` as a definition that can fire again (422 at the field otherwise)."""
    definition = parse_model(ScheduleDefinition, body)
    check_queue(request, definition.task.queue, "task.queue")
    never = never_fires(definition, datetime.now(UTC))
    if never is not None:
        msg = "schedule can never fire"
        raise unprocessable(msg, [{"loc": never[0], "msg": never[1]}])
    return definition


def _not_found(schedule_id: str) -> ApiError:
    return ApiError(404, f"schedule {schedule_id!r} not found; create it with POST")


@routes.operation(
    "POST", "/api/v1/schedules", request=ScheduleDefinition, response=ScheduleView, status=202,
    errors=(409,),
)  # fmt: skip
async def create_schedule(request: web.Request) -> web.Response:
    """Create a schedule; 409 when one with its id exists."""
    authorize(request, Scope.SCHEDULES_WRITE, "schedule.create")
    definition = _definition(request, read_json_object(await read_body(request)))
    if await _writer(request).write(WriteOp.CREATE, definition.id, definition) is Outcome.EXISTS:
        raise ApiError(409, f"schedule {definition.id!r} exists; replace it with PUT")
    return ok(describe(definition), 202)


@routes.operation(
    "PUT", SCHEDULE, request=ScheduleDefinition, response=ScheduleView, status=202, errors=(409,)
)
async def update_schedule(request: web.Request) -> web.Response:
    """Replace an existing schedule whole (404 when there is none)."""
    authorize(request, Scope.SCHEDULES_WRITE, "schedule.update")
    schedule_id = request.match_info["schedule_id"]
    body = read_json_object(await read_body(request))
    if body.setdefault("id", schedule_id) != schedule_id:
        message = "the body's id must match the path"
        msg = "invalid schedule"
        raise unprocessable(msg, [{"loc": "id", "msg": message}])
    writer = _writer(request)
    for _ in range(REPLACE_TRIES):
        current = await writer.current(schedule_id)
        if current is None:
            raise _not_found(schedule_id)
        # A full replace, but the creation instant (the @every anchor) is the schedule's.
        created = ScheduleDefinition.model_validate_json(current).created_at_ms
        definition = _definition(request, {"created_at_ms": created, **body})
        outcome = await writer.write(WriteOp.REPLACE, schedule_id, definition, current)
        if outcome is Outcome.MISSING:
            raise _not_found(schedule_id)
        if outcome is Outcome.OK:
            return ok(describe(definition), 202)
    raise ApiError(409, f"schedule {schedule_id!r} is being changed by other requests; retry")


@routes.operation("DELETE", SCHEDULE, response=ScheduleDeleted, status=202)
async def delete_schedule(request: web.Request) -> web.Response:
    """Delete a schedule (404 when there is none)."""
    authorize(request, Scope.SCHEDULES_WRITE, "schedule.delete")
    schedule_id = request.match_info["schedule_id"]
    if await _writer(request).write(WriteOp.DELETE, schedule_id, None) is Outcome.MISSING:
        raise _not_found(schedule_id)
    return ok({"id": schedule_id, "deleted": True}, 202)


async def _listing(request: web.Request) -> dict[str, ScheduleDefinition]:
    svc = services(request)
    raw = await svc.client.hgetall(svc.keys.schedule_listing)
    return {_str(key): ScheduleDefinition.model_validate_json(value) for key, value in raw.items()}


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@routes.operation("GET", "/api/v1/schedules", response=ScheduleList)
async def list_schedules(request: web.Request) -> web.Response:
    """Every schedule: applied by the scheduler, or accepted by ingest and about to be."""
    authorize(request, Scope.TASKS_READ, "schedule.list")
    listing = await _listing(request)
    return ok({"items": [describe(listing[key]) for key in sorted(listing)]})


@routes.operation("GET", SCHEDULE, response=ScheduleView)
async def get_schedule(request: web.Request) -> web.Response:
    """One schedule (as listed)."""
    authorize(request, Scope.TASKS_READ, "schedule.read")
    schedule_id = request.match_info["schedule_id"]
    svc = services(request)
    raw = await svc.client.hget(svc.keys.schedule_listing, schedule_id)
    if raw is None:
        raise ApiError(404, f"schedule {schedule_id!r} not found")
    return ok(describe(ScheduleDefinition.model_validate_json(raw)))
