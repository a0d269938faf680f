"""The OpenAPI 3.1 document, generated from the routes' Operation declarations, and docs.

``install(app)`` runs after every route is added: it refuses a route without a
declaration (so nothing is served undocumented) and renders the document once.
The docs page is ReDoc, served from a vendored, pinned bundle (static/redoc): the
page loads nothing from another host.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from conveyor_ingest.operations import OPERATION_ATTRIBUTE, ApiRoutes, Operation
from conveyor_ingest.responses import JSON_TYPE, dumps

REF = "#/components/schemas/{model}"
EVENT_STREAM = "text/event-stream"
REDOC_VERSION = "2.5.2"
REDOC_BUNDLE = "redoc.standalone.js"
ERROR = {
    "type": "object",
    "required": ["code", "message", "data"],
    "properties": {
        "code": {"type": "integer", "minimum": 400, "maximum": 599},
        "message": {"type": "string", "description": "What went wrong and what to fix."},
        "data": {"type": "null"},
        "errors": {
            "type": "array",
            "description": "One entry per problem (422): where, and what is wrong.",
            "items": {"$ref": REF.format(model="FieldError")},
        },
    },
}
FIELD_ERROR = {
    "type": "object",
    "required": ["loc", "msg"],
    "properties": {
        "loc": {"type": "string", "description": "Dotted field path, query name or header."},
        "msg": {"type": "string"},
    },
}
DOCUMENT: web.AppKey[str] = web.AppKey("openapi_document", str)


def _models(operations: list[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in operations:
        for model in (op.request, op.query):
            if model is not None:
                wanted[model, "validation"] = None
        for model in (op.response, *op.error_data.values()):
            if model is not None:
                wanted[model, "serialization"] = None
    return list(wanted)


def document(operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``."""
    models = _models(operations)
    refs, schemas = models_json_schema(models, ref_template=REF)
    components = {**schemas.get("$defs", {}), "Error": ERROR, "FieldError": FIELD_ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.template, {})[op.method] = _operation(op, refs, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Conveyor ingest API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]  # (model class, mode) -> its $ref


def _operation(op: Operation, refs: Refs, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        operation["description"] = op.description
    operation["security"] = [{"bearer": []}] if op.auth else []
    parameters = _parameters(op, refs, components)
    if parameters:
        operation["parameters"] = parameters
    if op.request is not None:
        schema = refs[op.request, "validation"]
        operation["requestBody"] = {
            "required": True,
            "content": {kind: {"schema": schema} for kind in op.body_types},
        }
    operation["responses"] = _responses(op, refs)
    return operation


def _parameters(op: Operation, refs: Refs, components: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "pattern": f"^{pattern}$"}}
        for name, pattern in op.path_patterns.items()
    ]  # fmt: skip
    if op.query is not None:
        ref = refs[op.query, "validation"]["$ref"]
        query = components[ref.rsplit("/", 1)[1]]
        required = set(query.get("required", ()))
        for name, schema in query["properties"].items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required,
                 "schema": _not_null(schema)}
            )  # fmt: skip
    parameters += [
        {"name": header.name, "in": "header", "required": False,
         "description": header.description, "schema": dict(header.schema)}
        for header in op.headers
    ]  # fmt: skip
    return parameters


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter's schema without its null branch (absent means null)."""
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    if rest.get("default", 0) is None:
        del rest["default"]
    branches = schema.get("anyOf")
    if not branches:
        return rest
    kept = [branch for branch in branches if branch.get("type") != "null"]
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _responses(op: Operation, refs: Refs) -> dict[str, Any]:
    if not op.envelope:
        schema: dict[str, Any] = {"type": "object"}
    elif op.media_type == EVENT_STREAM:
        schema = _events(op.event, refs[op.response, "serialization"] if op.response else {})
    elif op.media_type != JSON_TYPE:
        schema = {"type": "string"}
    else:
        data = refs[op.response, "serialization"] if op.response else {"type": "null"}
        schema = _envelope(op.status, data)
    success: dict[str, Any] = {
        "description": op.summary,
        "content": {op.media_type: {"schema": schema}},
    }
    if op.links:
        success["links"] = {
            name: {"operationId": target, "parameters": dict(parameters)}
            for name, (target, parameters) in op.links.items()
        }
    responses: dict[str, Any] = {str(op.status): success}
    for status in op.error_statuses():
        model = op.error_data.get(status)
        body = _envelope(status, refs[model, "serialization"]) if model else {
            "$ref": REF.format(model="Error")}  # fmt: skip
        responses[str(status)] = {
            "description": f"Error {status}",
            "content": {JSON_TYPE: {"schema": body}},
        }
    return responses


def _events(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """Each server-sent event: ``event: <event>`` and ``data``, the JSON text of ``data``."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": event},
            "data": {"type": "string", "contentMediaType": JSON_TYPE, "contentSchema": data},
        },
    }


def _envelope(status: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "message", "data"],
        "properties": {"code": {"const": status}, "message": {"type": "string"}, "data": data},
    }


routes = ApiRoutes()

DOCS_PAGE = f"""<!doctype html><html><head><title>Conveyor API</title><meta charset="utf-8">
</head><body><redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="/api/v1/docs/{REDOC_BUNDLE}"></script>
</body></html>"""


@routes.operation("GET", "/api/v1/openapi.json", envelope=False, auth=False, redis=False)
async def openapi_json(request: web.Request) -> web.Response:
    """This OpenAPI document (no auth)."""
    return web.Response(text=request.app[DOCUMENT], content_type=JSON_TYPE)


@routes.operation("GET", "/api/v1/docs", media_type="text/html", auth=False, redis=False)
async def docs_page(_request: web.Request) -> web.Response:
    """A ReDoc page rendering the OpenAPI document (no auth)."""
    return web.Response(text=DOCS_PAGE, content_type="text/html")


@routes.operation(
    "GET", f"/api/v1/docs/{REDOC_BUNDLE}", media_type="text/javascript", auth=False, redis=False
)
async def docs_script(_request: web.Request) -> web.Response:
    """The docs page's ReDoc bundle (vendored, pinned: static/redoc)."""
    return web.Response(
        body=_bundle(),
        content_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@cache
def _bundle() -> bytes:
    """The bundle's bytes, read once (~1 MB)."""
    return resources.files(__package__).joinpath("static", "redoc", REDOC_BUNDLE).read_bytes()


def install(app: web.Application) -> None:
    """Add the document and docs routes, and render the document of every route of ``app``."""
    app.router.add_routes(routes)
    operations: list[Operation] = []
    for route in app.router.routes():
        operation: Operation | None = getattr(route.handler, OPERATION_ATTRIBUTE, None)
        if operation is None:
            if route.method == "HEAD":
                continue  # aiohttp's HEAD beside each GET
            msg = f"route {route.method} {route.resource} has no Operation declaration"
            raise RuntimeError(msg)
        operations.append(operation)
    app[DOCUMENT] = dumps(document(operations))
