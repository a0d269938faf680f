"""/livez, /readyz and /metrics: no auth, no envelope for metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from conveyor.streams import Group, find_group
from conveyor.telemetry.probes import readiness_problems
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
    with the problems otherwise). Answered within conveyor.telemetry.probes.READY_TIMEOUT_S,
    whatever Redis does.
    """
    svc = services(request)

    async def check() -> list[str]:
        problems = svc.dataset.problems() if svc.dataset is not None else []
        await svc.client.ping()
        for qk in svc.keys.all_queues():
            if find_group(await svc.client.xinfo_groups(qk.events), Group.INGEST) is None:
                problems.append(f"group {Group.INGEST.value} missing on {qk.events}")
        return problems

    problems = await readiness_problems(check)
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
