"""/api/v1/schedules: cron schedules, published on the schedule-changes stream.

Writes answer 202: the scheduler applies the change, and ingest's listing copy
follows from the applied-changes stream (so a GET right after a POST may not
show it yet). Answers carry the next fire times and a description.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from conveyor.cron import describe_cron, parse_cron
from conveyor.envelope import format_time
from conveyor.schedules import ChangeOp, ScheduleDefinition, change_fields
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
from conveyor_ingest.store import now_ms

NEXT_FIRES = 5
SCHEDULE = "/api/v1/schedules/{schedule_id:[A-Za-z0-9][A-Za-z0-9_.-]{0,127}}"

routes = ApiRoutes()


def describe(definition: ScheduleDefinition) -> dict[str, Any]:
    """A schedule with its next fire times and a human description."""
    schedule = parse_cron(definition.cron, timezone=definition.timezone, anchor=definition.anchor)
    after = max(datetime.now(UTC), definition.start_at or datetime.now(UTC))
    fires = [
        moment
        for moment in schedule.next_n(after, NEXT_FIRES)
        if definition.end_at is None or moment <= definition.end_at
    ]
    return {
        "schedule": json.loads(definition.model_dump_json()),
        "description": describe_cron(definition.cron),
        "next_fires": [format_time(moment) for moment in fires] if definition.enabled else [],
    }


async def _publish(request: web.Request, op: ChangeOp, schedule_id: str,
                   definition: ScheduleDefinition | None) -> None:  # fmt: skip
    svc = services(request)
    fields = change_fields(op, schedule_id, now_ms(), "api", definition)
    await svc.client.xadd(svc.keys.schedule_changes, fields)  # type: ignore[arg-type]


async def _definition(request: web.Request, schedule_id: str | None) -> ScheduleDefinition:
    body = read_json_object(await read_body(request))
    if schedule_id is not None and body.setdefault("id", schedule_id) != schedule_id:
        message = "the body's id must match the path"
        msg = "invalid schedule"
        raise unprocessable(msg, [{"loc": "id", "msg": message}])
    definition = parse_model(ScheduleDefinition, body)
    check_queue(request, definition.task.queue, "task.queue")
    return definition


@routes.operation(
    "POST", "/api/v1/schedules", request=ScheduleDefinition, response=ScheduleView, status=202
)
async def create_schedule(request: web.Request) -> web.Response:
    """Create (or replace) a schedule."""
    authorize(request, Scope.SCHEDULES_WRITE, "schedule.create")
    definition = await _definition(request, None)
    await _publish(request, ChangeOp.UPSERT, definition.id, definition)
    return ok(describe(definition), 202)


@routes.operation("PUT", SCHEDULE, request=ScheduleDefinition, response=ScheduleView, status=202)
async def update_schedule(request: web.Request) -> web.Response:
    """Replace a schedule."""
    authorize(request, Scope.SCHEDULES_WRITE, "schedule.update")
    definition = await _definition(request, request.match_info["schedule_id"])
    await _publish(request, ChangeOp.UPSERT, definition.id, definition)
    return ok(describe(definition), 202)


@routes.operation("DELETE", SCHEDULE, response=ScheduleDeleted, status=202)
async def delete_schedule(request: web.Request) -> web.Response:
    """Delete a schedule."""
    authorize(request, Scope.SCHEDULES_WRITE, "schedule.delete")
    schedule_id = request.match_info["schedule_id"]
    await _publish(request, ChangeOp.DELETE, schedule_id, None)
    return ok({"id": schedule_id, "deleted": True}, 202)


async def _listing(request: web.Request) -> dict[str, ScheduleDefinition]:
    svc = services(request)
    raw = await svc.client.hgetall(svc.keys.schedule_listing)
    return {_str(key): ScheduleDefinition.model_validate_json(value) for key, value in raw.items()}


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@routes.operation("GET", "/api/v1/schedules", response=ScheduleList)
async def list_schedules(request: web.Request) -> web.Response:
    """Every schedule the scheduler has applied."""
    authorize(request, Scope.TASKS_READ, "schedule.list")
    listing = await _listing(request)
    return ok({"items": [describe(listing[key]) for key in sorted(listing)]})


@routes.operation("GET", SCHEDULE, response=ScheduleView)
async def get_schedule(request: web.Request) -> web.Response:
    """One applied schedule."""
    authorize(request, Scope.TASKS_READ, "schedule.read")
    schedule_id = request.match_info["schedule_id"]
    svc = services(request)
    raw = await svc.client.hget(svc.keys.schedule_listing, schedule_id)
    if raw is None:
        raise ApiError(404, f"schedule {schedule_id!r} not found")
    return ok(describe(ScheduleDefinition.model_validate_json(raw)))
