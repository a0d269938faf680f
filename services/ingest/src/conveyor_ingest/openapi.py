"""The OpenAPI 3.1 document (from the pydantic models) and a docs page."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from conveyor.schedules import ScheduleDefinition
from conveyor_ingest.models import (
    Accepted,
    BatchRequest,
    ReplayFilter,
    TaskPage,
    TaskRequest,
    TaskUpdate,
    TaskView,
    envelope_schema,
)

REF = "#/components/schemas/{model}"
MODELS = (TaskRequest, BatchRequest, TaskUpdate, Accepted, TaskView, TaskPage, ReplayFilter,
          ScheduleDefinition)  # fmt: skip

# (method, path, summary, request model or None, response model or None, parameters)
OPERATIONS: tuple[tuple[str, str, str, str | None, str | None, tuple[str, ...]], ...] = (
    ("post", "/api/v1/tasks", "Enqueue a task", "TaskRequest", "Accepted", ()),
    ("get", "/api/v1/tasks", "List tasks", None, "TaskPage",
     ("queue", "status", "type", "limit:int", "cursor")),
    ("post", "/api/v1/tasks/batch", "Enqueue many tasks", "BatchRequest", None, ()),
    ("get", "/api/v1/tasks/{task_id}", "Read a task", None, "TaskView", ("wait:int",)),
    ("get", "/api/v1/tasks/{task_id}/events", "Follow a task (server-sent events)", None, None,
     ()),
    ("put", "/api/v1/tasks/{task_id}", "Change an unstarted task", "TaskUpdate", "Accepted", ()),
    ("delete", "/api/v1/tasks/{task_id}", "Cancel a task", None, "Accepted", ()),
    ("post", "/api/v1/events", "Accept a CloudEvent", None, "Accepted", ()),
    ("get", "/api/v1/dead-letters", "List dead letters", None, None,
     ("queue", "partition:int", "limit:int", "cursor")),
    ("post", "/api/v1/dead-letters/replay", "Replay dead letters", "ReplayFilter", None,
     ("partition:int",)),
    ("delete", "/api/v1/dead-letters", "Purge dead letters", None, None,
     ("queue", "partition:int")),
    ("post", "/api/v1/schedules", "Create a schedule", "ScheduleDefinition", None, ()),
    ("get", "/api/v1/schedules", "List schedules", None, None, ()),
    ("get", "/api/v1/schedules/{schedule_id}", "Read a schedule", None, None, ()),
    ("put", "/api/v1/schedules/{schedule_id}", "Replace a schedule", "ScheduleDefinition",
     None, ()),
    ("delete", "/api/v1/schedules/{schedule_id}", "Delete a schedule", None, None, ()),
    ("get", "/api/v1/queues", "Queue figures", None, None, ()),
)  # fmt: skip


def _parameters(path: str, query: tuple[str, ...]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in path.split("/")
        if part.startswith("{")
    ]
    for item in query:
        name, _, kind = item.partition(":")
        schema = {"type": "integer"} if kind == "int" else {"type": "string"}
        params.append({"name": name, "in": "query", "required": False, "schema": schema})
    return params


def _operation(summary: str, request: str | None, response: str | None,
               params: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    data = {"$ref": REF.format(model=response)} if response else {}
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            "200": {"description": "OK", "content": {
                "application/json": {"schema": envelope_schema(data)}}},
            "202": {"description": "Accepted", "content": {
                "application/json": {"schema": envelope_schema(data)}}},
            "default": {"description": "Error envelope", "content": {
                "application/json": {"schema": envelope_schema(None)}}},
        },
    }  # fmt: skip
    if params:
        operation["parameters"] = params
    if request:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=request)}}},
        }
    return operation


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    _, schemas = models_json_schema([(model, "validation") for model in MODELS], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, response, query in OPERATIONS:
        params = _parameters(path, query)
        paths.setdefault(path, {})[method] = _operation(summary, request, response, params)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Conveyor ingest API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


routes = web.RouteTableDef()

DOCS_PAGE = """<!doctype html><html><head><title>Conveyor API</title><meta charset="utf-8">
</head><body><redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"></script>
</body></html>"""


@routes.get("/api/v1/openapi.json")
async def openapi_json(_request: web.Request) -> web.Response:
    """The OpenAPI document (no auth)."""
    return web.json_response(document())


@routes.get("/api/v1/docs")
async def docs_page(_request: web.Request) -> web.Response:
    """A ReDoc page rendering the OpenAPI document."""
    return web.Response(text=DOCS_PAGE, content_type="text/html")
