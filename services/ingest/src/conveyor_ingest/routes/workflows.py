"""/api/v1/workflows: create a workflow in one request, read it, cancel what has not started.

The routes parse and answer; planning, the write, the read and the cancel are the
library's (``conveyor.workflows``, ``conveyor.producing.flows``), as for the client.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from conveyor.keys import QueueKeys
from conveyor.producing import flows
from conveyor.producing.tasks import now_ms
from conveyor.producing.writes import change_outcome, stored_answer
from conveyor.records import view
from conveyor.workflows import from_body, plan
from conveyor_ingest.auth import Principal, Scope
from conveyor_ingest.context import authorize, check_queue, read_model, services
from conveyor_ingest.intake import IDEMPOTENCY_HEADER, idempotency, invalid_as_422
from conveyor_ingest.operations import IDEMPOTENCY_KEY, ApiRoutes, read_query
from conveyor_ingest.readmodel import find_shard_record
from conveyor_ingest.responses import ApiError, body_text, ok, raw
from conveyor_ingest.workflow_models import (
    WorkflowCancelled,
    WorkflowQuery,
    WorkflowRequest,
    WorkflowView,
)

routes = ApiRoutes()
WORKFLOWS = "/api/v1/workflows"
WORKFLOW = WORKFLOWS + "/{workflow_id}"


@routes.operation(
    "POST", WORKFLOWS, request=WorkflowRequest, response=WorkflowView, status=202,
    headers=(IDEMPOTENCY_KEY,), errors=(429,),
)  # fmt: skip
async def post_workflow(request: web.Request) -> web.Response:
    """Create a workflow: a chain, a group or a chord.

    Its first tasks (a chain's first step, or every member), its record and the stored
    answer of an Idempotency-Key are one atomic write on one queue partition; what
    follows is enqueued by the worker in the commit that acknowledges each step.
    """
    principal = authorize(request, Scope.TASKS_WRITE, "workflow.create")
    svc = services(request)
    await svc.limiter.check(principal.subject)
    body, text = await read_model(request, WorkflowRequest)
    check_queue(request, body.queue)
    idem = idempotency(request, principal, text)
    key = f"idem:{principal.subject}:{idem.key}" if idem else None  # a retry finds its partition
    with invalid_as_422():
        flow = from_body(body.model_dump(exclude_unset=True))
        planned = plan(flow, body.queue, subject=principal.subject, origin="api",
                       partition_key=key)  # fmt: skip
    await svc.backlog.check(body.queue, len(planned.tasks))
    answer = body_text(202, flows.accepted_data(planned, body.queue))
    call = flows.create_call(svc.store.writes, planned, idem, (202, answer), now_ms())
    stored = stored_answer(await svc.store.run(call))
    if stored is None:
        return raw(answer, 202)
    if idem is None or stored.fingerprint != idem.fingerprint:
        raise ApiError(422, f"{IDEMPOTENCY_HEADER} was already used with a different request body")
    response = raw(stored.text, stored.status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


@routes.operation("GET", WORKFLOW, query=WorkflowQuery, response=WorkflowView, errors=(404,))
async def get_workflow(request: web.Request) -> web.Response:
    """Read a workflow: its status and each step's state, result or error."""
    principal = authorize(request, Scope.TASKS_READ, "workflow.read")
    _, data = await _read(request, principal)
    return ok(data)


@routes.operation(
    "DELETE", WORKFLOW, query=WorkflowQuery, response=WorkflowCancelled, status=202, errors=(404,)
)
async def delete_workflow(request: web.Request) -> web.Response:
    """Cancel a workflow: every step that has not started (a started one runs to its end)."""
    principal = authorize(request, Scope.TASKS_WRITE, "workflow.cancel")
    shard, data = await _read(request, principal)
    svc = services(request)
    now = now_ms()
    until = now + max(int(svc.settings.max_delay * 1000), svc.store.writes.retention_ms)
    cancelled = 0
    for step in data["steps"]:
        if step["state"] in ("pending", "scheduled"):
            call = svc.store.writes.cancel(shard.shard, step["id"], until, now)
            cancelled += change_outcome(await svc.store.run(call))[0] == "ok"
    waiting = [step["id"] for step in data["steps"] if step["state"] == "waiting"]
    if waiting:
        cancelled += int(str(await svc.store.run(flows.cancel_call(shard, waiting, now, until))))
    return ok(WorkflowCancelled(id=data["id"], cancelled=cancelled), 202)


async def _read(request: web.Request, principal: Principal) -> tuple[QueueKeys, dict[str, Any]]:
    workflow_id = request.match_info["workflow_id"]
    queue = read_query(request, WorkflowQuery).queue
    check_queue(request, queue)
    svc = services(request)
    missing = ApiError(404, f"workflow {workflow_id!r} not found (or expired from the read model)")
    if "{" in workflow_id or "}" in workflow_id:
        raise missing
    for shard in svc.keys.shards(queue):
        text = await svc.store.run(flows.get_call(shard, workflow_id))
        if text:
            break
    else:
        raise missing
    record = flows.decode_record(text)  # type: ignore[arg-type]
    if not (principal.is_admin or record.get("subject", "") == principal.subject):
        raise missing
    tasks = []
    for task_id, *_ in record["steps"]:
        found = await find_shard_record(svc.client, svc.keys, task_id)
        tasks.append(None if found is None else view(found[1]))
    return shard, flows.view_data(record, queue, flows.step_views(record, tasks))
