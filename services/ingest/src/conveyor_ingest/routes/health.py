"""/livez, /readyz and /metrics: no auth, no envelope for metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis import exceptions as redis_errors

from conveyor.connection import TRANSIENT_ERRORS
from conveyor.streams import Group
from conveyor_ingest.context import services
from conveyor_ingest.models import Liveness, Readiness
from conveyor_ingest.operations import ApiRoutes
from conveyor_ingest.responses import ok

routes = ApiRoutes()


@routes.operation("GET", "/livez", response=Liveness, auth=False, redis=False)
async def livez(_request: web.Request) -> web.Response:
    """Liveness probe: the process answers."""
    return ok(Liveness(live=True))


@routes.operation(
    "GET", "/readyz", response=Readiness, auth=False, redis=False, errors=(503,),
    error_data={503: Readiness},
)  # fmt: skip
async def readyz(request: web.Request) -> web.Response:
    """Readiness probe.

    Redis answers and the ingest consumer group exists on every events stream (503
    with the problems otherwise).
    """
    svc = services(request)
    problems: list[str] = []
    try:
        await svc.client.ping()
        for qk in svc.keys.all_queues():
            groups = await svc.client.xinfo_groups(qk.events)
            names = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
                     for g in groups}  # fmt: skip
            if Group.INGEST.value not in names:
                problems.append(f"group {Group.INGEST.value} missing on {qk.events}")
    except TRANSIENT_ERRORS as exc:
        problems.append(f"redis unreachable: {exc}")
    except redis_errors.ResponseError as exc:
        problems.append(f"redis error: {exc}")
    if problems:
        return ok(Readiness(ready=False, problems=problems), 503, "not ready")
    return ok(Readiness(ready=True))


@routes.operation("GET", "/metrics", media_type="text/plain", auth=False, redis=False)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics (text exposition)."""
    metrics = services(request).metrics
    metrics.flush()  # what this loop iteration answered so far, too
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
