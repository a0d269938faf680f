"""/api/v1/limits: client rate limits by tier and subject, per-type task limits and
breaker settings, changed at run time (conveyor.limits); every change audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from conveyor import jsoncodec
from conveyor.envelope import format_time
from conveyor.limits import LimitsDocument, LimitsVersion, limits_history, read_limits, write_limits
from conveyor_ingest.auth import Scope
from conveyor_ingest.context import authorize, parse_model, read_body, services
from conveyor_ingest.limit_models import LimitsHistory, LimitsHistoryQuery, LimitsView
from conveyor_ingest.operations import ApiRoutes, read_query
from conveyor_ingest.responses import ok

log = structlog.get_logger(__name__)
routes = ApiRoutes()

LIMITS = "/api/v1/limits"


def _at(at_ms: int) -> str | None:
    return format_time(datetime.fromtimestamp(at_ms / 1000, UTC)) if at_ms else None


def _view(version: LimitsVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "limits": version.document.model_dump(mode="json", exclude_none=True),
        "changed_by": version.by or None,
        "changed_at": _at(version.at_ms),
    }


@routes.operation("GET", LIMITS, response=LimitsView)
async def get_limits(request: web.Request) -> web.Response:
    """The run-time limits in force (admin).

    What the document leaves out keeps its static default (settings, handler options).
    """
    authorize(request, Scope.ADMIN, "limits.get")
    svc = services(request)
    return ok(_view(await read_limits(svc.client, svc.keys)))


@routes.operation("PUT", LIMITS, request=LimitsDocument, response=LimitsView)
async def put_limits(request: web.Request) -> web.Response:
    """Replace the run-time limits whole (admin).

    Every ingest and worker replica applies them within a second; the change is kept
    in the audit trail (GET /api/v1/limits/history) and logged.
    """
    principal = authorize(request, Scope.ADMIN, "limits.put")
    document = parse_model(LimitsDocument, await read_body(request))
    svc = services(request)
    written = await write_limits(svc.client, svc.keys, document, principal.subject)
    after = document.model_dump(mode="json", exclude_none=True)
    log.warning(
        "limits_changed",
        version=written.version,
        by=principal.subject,
        before=jsoncodec.loads(written.before),
        after=after,
    )
    return ok(_view(written))


@routes.operation("GET", LIMITS + "/history", query=LimitsHistoryQuery, response=LimitsHistory)
async def get_limits_history(request: web.Request) -> web.Response:
    """The last changes of the limits, newest first (admin): who, when, before and after."""
    authorize(request, Scope.ADMIN, "limits.history")
    wanted = read_query(request, LimitsHistoryQuery)
    svc = services(request)
    items = [
        {
            "version": change.version,
            "changed_by": change.by,
            "changed_at": _at(change.at_ms),
            "before": jsoncodec.loads(change.before),
            "after": change.document.model_dump(mode="json", exclude_none=True),
        }
        for change in await limits_history(svc.client, svc.keys, wanted.limit)
    ]
    return ok({"items": items})
