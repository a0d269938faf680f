"""/livez, /readyz and /metrics: no auth, no envelope for metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from conveyor.streams import Group, find_group
from conveyor.telemetry.probes import readiness_problems
from conveyor_ingest.context import services
from conveyor_ingest.responses import ok

routes = web.RouteTableDef()


@routes.get("/livez")
async def livez(_request: web.Request) -> web.Response:
    """The process answers."""
    return ok({"live": True})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Redis answers and the ingest consumer group exists on every events stream.

    Answered within conveyor.telemetry.probes.READY_TIMEOUT_S, whatever Redis does.
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
        return ok({"ready": False, "problems": problems}, 503, "not ready")
    return ok({"ready": True})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    metrics = services(request).metrics
    metrics.flush()  # what this loop iteration answered so far, too
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
