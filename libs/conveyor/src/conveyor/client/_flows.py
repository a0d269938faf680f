"""Workflow operations as plans, for both transports: create, get, cancel.

The direct plans run the library's workflow calls (``conveyor.producing.flows``),
the HTTP plans the ``/api/v1/workflows`` routes, which run the same calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conveyor.client._direct import KEY_LOC, ORIGIN, DirectCore
from conveyor.client._http import _data
from conveyor.client._plans import HttpCall, Plan, ReadRecord
from conveyor.errors import InvalidTaskError, NotFoundError
from conveyor.keys import QueueKeys
from conveyor.producing import flows
from conveyor.producing.tasks import Idempotency, check_idempotency_key, fingerprint, now_ms
from conveyor.producing.writes import change_outcome, stored_answer
from conveyor.records import view
from conveyor.workflows import Workflow, plan, to_body

WORKFLOWS = "/api/v1/workflows"
FINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class WorkflowStepView:
    """One step of a workflow: its task id, place and state (a task status, or
    ``waiting`` / ``not_run`` before it is enqueued), with its result or error."""

    id: str
    type: str
    role: str
    index: int
    state: str
    result: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowView:
    """A workflow as GET /api/v1/workflows/{id} shows it."""

    id: str
    queue: str
    kind: str
    status: str
    steps: list[WorkflowStepView]
    policy: str | None = None

    @property
    def done(self) -> bool:
        """Whether the workflow has finished (succeeded, failed or cancelled)."""
        return self.status in FINAL

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> WorkflowView:
        """From the API's (and the direct path's) ``data``."""
        steps = [WorkflowStepView(**step) for step in data["steps"]]
        return cls(data["id"], data["queue"], data["kind"], data["status"], steps,
                   data.get("policy"))  # fmt: skip


def create(core: Any, flow: Workflow, queue: str, key: str | None) -> Plan[WorkflowView]:
    """Create ``flow`` on ``queue`` (one atomic write; one idempotency key: one workflow)."""
    if not isinstance(core, DirectCore):
        headers = {} if key is None else {"Idempotency-Key": key}
        post = HttpCall("POST", WORKFLOWS, json=to_body(flow, queue), headers=headers)
        return WorkflowView.from_api(_data((yield post)))
    idem = None
    partition_key = None
    if key is not None:
        check_idempotency_key(key, KEY_LOC)
        body = json.dumps(to_body(flow, queue), sort_keys=True).encode()
        idem = Idempotency(core.subject, key, fingerprint(WORKFLOWS, body))
        partition_key = f"idem:{core.subject}:{key}"  # a retry finds the same partition
    planned = plan(flow, queue, subject=core.subject, origin=ORIGIN, partition_key=partition_key)
    data = flows.accepted_data(planned, queue)
    answer = json.dumps({"code": 202, "message": "accepted", "data": data}, separators=(",", ":"))
    call = flows.create_call(core.writes, planned, idem, (202, answer), now_ms())
    stored = stored_answer((yield call))
    if stored is None:
        return WorkflowView.from_api(data)
    if idem is None or stored.fingerprint != idem.fingerprint:
        message = "the key was already used with a different workflow"
        msg = "Idempotency-Key was already used with a different request body"
        raise InvalidTaskError(msg, [{"loc": KEY_LOC, "msg": message}])
    return WorkflowView.from_api(json.loads(stored.text)["data"])


def get(core: Any, workflow_id: str, queue: str) -> Plan[WorkflowView]:
    """The workflow and its steps' states (NotFoundError when it has no record)."""
    if not isinstance(core, DirectCore):
        call = HttpCall("GET", f"{WORKFLOWS}/{workflow_id}", {"queue": queue})
        return WorkflowView.from_api(_data((yield call)))
    _, data = yield from _read(core, workflow_id, queue)
    return WorkflowView.from_api(data)


def cancel(core: Any, workflow_id: str, queue: str) -> Plan[int]:
    """Cancel every step that has not started; how many steps were cancelled."""
    if not isinstance(core, DirectCore):
        call = HttpCall("DELETE", f"{WORKFLOWS}/{workflow_id}", {"queue": queue})
        return int(_data((yield call))["cancelled"])
    shard, data = yield from _read(core, workflow_id, queue)
    queued = [s["id"] for s in data["steps"] if s["state"] in ("pending", "scheduled")]
    waiting = [s["id"] for s in data["steps"] if s["state"] == "waiting"]
    now = now_ms()
    until = now + max(int(core.max_delay * 1000), core.writes.retention_ms)
    cancelled = 0
    for task_id in queued:
        outcome, _ = change_outcome((yield core.writes.cancel(shard.shard, task_id, until, now)))
        cancelled += outcome == "ok"  # otherwise it started meanwhile
    if waiting:
        cancelled += int((yield flows.cancel_call(shard, waiting, now, until)))
    return cancelled


def _read(core: DirectCore, workflow_id: str, queue: str) -> Plan[tuple[QueueKeys, dict[str, Any]]]:
    for shard in core.keys.shards(queue):
        text = yield flows.get_call(shard, workflow_id)
        if text:
            break
    else:
        msg = f"workflow {workflow_id!r} not found (or expired from the read model)"
        raise NotFoundError(msg)
    record = flows.decode_record(text)
    tasks = []
    for task_id, *_ in record["steps"]:
        found = yield ReadRecord([shard], task_id)
        tasks.append(None if found is None else view(found[1]))
    steps = flows.step_views(record, tasks)
    return shard, flows.view_data(record, queue, steps)
