"""Workflow writes and reads as script calls: create (one atomic write), view, cancel.

Ingest's workflow routes and the direct client both use these, as they use
``writes`` for tasks. A workflow lives on one queue partition: its tasks all
carry its id as ``partition_key`` (``conveyor.workflows.plan``), so its first
tasks, its record and its idempotent answer are one enqueue script call, and the
worker's state hash and every later step stay in that slot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conveyor import jsoncodec
from conveyor.control import cancel_fields
from conveyor.keys import QueueKeys
from conveyor.producing.tasks import Idempotency
from conveyor.producing.writes import ScriptCall, TaskWrites
from conveyor.status import TaskStatus
from conveyor.workflows import StepState, WorkflowPlan

GET_SCRIPT = "ingest_workflow_get"
CANCEL_SCRIPT = "ingest_workflow_cancel"
SCRIPTS = (GET_SCRIPT, CANCEL_SCRIPT)

_STR = json.encoder.encode_basestring_ascii
_SUCCEEDED = TaskStatus.SUCCEEDED.value
_CANCELLED = TaskStatus.CANCELLED.value
_DEAD = TaskStatus.DEAD.value
_ENDED = frozenset({_SUCCEEDED, _DEAD, _CANCELLED, StepState.NOT_RUN.value})
_UNSTARTED = frozenset({TaskStatus.PENDING.value, TaskStatus.SCHEDULED.value})


class WorkflowStatus:
    """A workflow's status as GET shows it."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"  # its last step succeeded (a group: every member)
    FAILED = "failed"  # a step ended otherwise and the workflow cannot succeed
    CANCELLED = "cancelled"


def create_call(
    writes: TaskWrites,
    flow: WorkflowPlan,
    idem: Idempotency | None,
    response: tuple[int, str],
    now: int,
) -> ScriptCall:
    """One enqueue script call: the first tasks, the workflow's record, the stored answer."""
    first = flow.tasks[0].envelope
    qk = writes.keys.route(first.queue, first.partition_key)
    call = writes.enqueue(qk.shard, flow.tasks, idem, response, now)
    args = list(call.args)
    buckets = len(args) - 5  # one PEXPIRE argument per bucket
    # The record's key takes the next bucket place: after the buckets, before the streams
    # of other priority levels (the script finds those after every bucket place).
    keys = list(call.keys)
    keys.insert(4 + buckets, qk.workflow_record(flow.id))
    items = str(args[4])
    place = buckets + 1
    args[4] = f'[{{"w":{place},"wr":{_STR(flow.record())},' + items[2:]
    args.append(writes.retention_ms)  # that place's PEXPIRE
    return ScriptCall(call.script, keys, args)


def get_call(qk: QueueKeys, workflow_id: str) -> ScriptCall:
    """Read a workflow's record (reply: its JSON text, or None)."""
    return ScriptCall(GET_SCRIPT, [qk.workflow_record(workflow_id)], [])


def cancel_call(qk: QueueKeys, task_ids: Sequence[str], now: int, until_ms: int) -> ScriptCall:
    """Cancel steps not enqueued yet: one cancel per id on the control stream, atomically.

    A worker records each (as for any cancel) and acknowledges the step with a
    ``cancelled`` event if it is enqueued later, instead of running it.
    """
    args: list[str | int] = []
    for task_id in task_ids:
        fields = cancel_fields(task_id, now, until_ms)
        args += [len(fields) * 2, *(item for pair in fields.items() for item in pair)]
    return ScriptCall(CANCEL_SCRIPT, [qk.control], args)


@dataclass(frozen=True, slots=True)
class StepView:
    """One step of a workflow as GET shows it."""

    id: str
    type: str
    role: str
    index: int
    state: str
    task: dict[str, Any] | None  # the task's read-model view, once it was enqueued


def decode_record(text: str | bytes) -> dict[str, Any]:
    """A workflow's stored record."""
    value: dict[str, Any] = jsoncodec.loads(text)
    return value


def step_views(record: dict[str, Any], tasks: Sequence[dict[str, Any] | None]) -> list[StepView]:
    """Each step with its state: its task's status, or waiting / not_run before it exists."""
    statuses = [None if task is None else str(task["status"]) for task in tasks]
    blocked = False
    if record["kind"] != "chain":
        members = [s for (_, _, role, _), s in zip(record["steps"], statuses, strict=True)
                   if role == "member"]  # fmt: skip
        # A cancelled member never counts; a dead one stops a chord of policy stop.
        blocked = _CANCELLED in members or (record.get("policy") == "stop" and _DEAD in members)
    views = []
    for (task_id, task_type, role, index), status, task in zip(
        record["steps"], statuses, tasks, strict=True
    ):
        if status is None:
            state = StepState.NOT_RUN.value if blocked else StepState.WAITING.value
        else:
            state = status
            if role != "member" and status in (_DEAD, _CANCELLED):
                blocked = True  # a chain stops at a step that did not succeed
        views.append(StepView(task_id, task_type, role, index, state, task))
    return views


def workflow_status(record: dict[str, Any], steps: Sequence[StepView]) -> str:
    """The workflow's status from its steps' states."""
    if not all(step.state in _ENDED for step in steps):
        return WorkflowStatus.RUNNING
    last = steps if record["kind"] == "group" else [steps[-1]]
    if all(step.state == _SUCCEEDED for step in last):
        return WorkflowStatus.SUCCEEDED
    if any(step.state == _CANCELLED for step in steps):
        return WorkflowStatus.CANCELLED
    return WorkflowStatus.FAILED


def unstarted(steps: Sequence[StepView]) -> tuple[list[str], list[str]]:
    """(ids of enqueued steps still pending or scheduled, ids of steps still waiting)."""
    queued = [s.id for s in steps if s.state in _UNSTARTED]
    waiting = [s.id for s in steps if s.state == StepState.WAITING.value]
    return queued, waiting


def accepted_data(flow: WorkflowPlan, queue: str) -> dict[str, Any]:
    """What the answer to a create says: the workflow and its steps as they start."""
    first = {task.envelope.id for task in flow.tasks}
    steps = [
        {"id": s.task_id, "type": s.type, "role": s.role, "index": s.index,
         "state": TaskStatus.PENDING.value if s.task_id in first else StepState.WAITING.value,
         "result": None, "error": None}
        for s in flow.steps
    ]  # fmt: skip
    return {"id": flow.id, "queue": queue, "kind": flow.kind, "policy": flow.policy or None,
            "status": WorkflowStatus.RUNNING, "steps": steps}  # fmt: skip


def view_data(record: dict[str, Any], queue: str, steps: Sequence[StepView]) -> dict[str, Any]:
    """What GET says of a workflow: its status and each step's state (and result or error)."""
    shown = [
        {"id": s.id, "type": s.type, "role": s.role, "index": s.index, "state": s.state,
         "result": s.task.get("result") if s.task else None,
         "error": s.task.get("error") if s.task else None}
        for s in steps
    ]  # fmt: skip
    return {"id": record["id"], "queue": queue, "kind": record["kind"],
            "policy": record.get("policy") or None, "status": workflow_status(record, steps),
            "steps": shown}  # fmt: skip
