"""Workflows: chains, groups and chords, and the ``workflow`` wire field they travel in.

A workflow is planned once, when it is created: every step gets its task id then,
and the tasks that can run at once (a chain's first step, a group's members) are
enqueued in one atomic write. What runs next travels inside each task's
``workflow`` field (JSON object text), so the worker can enqueue it in the very
commit that acknowledges the finished step (``workflow_advance.lua``): a crash
can neither lose nor repeat a step. See docs/workflows.md.

The ``workflow`` field:

- a chain step: ``{"id": <workflow id>, "then": [<step>, ...]}`` (the steps after it);
- a group member: ``{"id": ..., "member": i, "size": n, "policy": "stop" | "continue",
  "callback": <step>}`` (no ``callback`` for a group without one);
- a step: ``{"id": <task id>, "type": ..., "data": <payload JSON text>, "max_attempts":
  "3", "timeout": "1.5", "then": [...]}``; all but ``id`` and ``type`` optional.

A step after another gets its input by JSON text, never re-encoded: with no payload
its payload is the input alone; with a payload (a JSON object) it is
``{"input": <input>, ...payload}``. A chain step's input is the result of the step
before it; a chord callback's is the list of the members' results in member order
(policy ``continue``: ``{"status": ..., "result" | "error": ...}`` per member).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, overload

from conveyor import jsoncodec
from conveyor.errors import InvalidTaskError, JsonNumberError
from conveyor.ids import new_task_id
from conveyor.producing.tasks import NewTask, new_task

if TYPE_CHECKING:  # pydantic loads only with a declaration in use
    from conveyor.declarations import TaskDeclaration

P = TypeVar("P")
MAX_STEPS = 1_000
INPUT = "input"
INVALID = "workflow is invalid"


class Policy(StrEnum):
    """What a chord does when a member ends other than ``succeeded``."""

    STOP = "stop"  # the callback does not run; the workflow failed
    CONTINUE = "continue"  # the callback runs with each member's status


class StepState(StrEnum):
    """A workflow step's state as GET /workflows/{id} reports it."""

    WAITING = "waiting"  # not enqueued yet: runs when its predecessors finish
    NOT_RUN = "not_run"  # will never run: an earlier step or member did not succeed


class _NoPayload:
    def __repr__(self) -> str:
        return "NO_PAYLOAD"


NO_PAYLOAD: Any = _NoPayload()


@dataclass(frozen=True, slots=True)
class Step:
    """One task of a workflow. ``payload`` left out: a later step gets its input alone."""

    type: str
    payload: Any = NO_PAYLOAD
    max_attempts: int | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Chain:
    """Steps run one after another, each given the result of the one before."""

    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """Members run in parallel."""

    members: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Chord:
    """A group whose callback (a step, or a chain) runs once when every member finished."""

    group: Group
    callback: Step | Chain
    policy: Policy = Policy.STOP


Workflow = Step | Chain | Group | Chord


@overload
def step(
    task: TaskDeclaration[P, Any],
    payload: P = ...,
    *,
    max_attempts: int | None = None,
    timeout: float | None = None,
) -> Step: ...
@overload
def step(
    task: str, payload: Any = ..., *, max_attempts: int | None = None, timeout: float | None = None
) -> Step: ...
def step(
    task: TaskDeclaration[Any, Any] | str,
    payload: Any = NO_PAYLOAD,
    *,
    max_attempts: int | None = None,
    timeout: float | None = None,
) -> Step:
    """A step by type name, or by declaration: its payload typed and dumped by the
    declaration's model, its max_attempts and timeout defaults applied. (A step after
    another receives ``{"input": ..., ...payload}``: declare that model for it.)"""
    if isinstance(task, str):
        return Step(task, payload, max_attempts, timeout)
    dumped = payload if payload is NO_PAYLOAD else task.dump_payload(payload)
    return Step(
        task.name,
        dumped,
        max_attempts if max_attempts is not None else task.max_attempts,
        timeout if timeout is not None else task.timeout,
    )


def chain(*steps: Step) -> Chain:
    """``a``, then ``b`` with ``a``'s result, then ``c`` with ``b``'s."""
    return Chain(tuple(steps))


def group(*members: Step) -> Group:
    """Members that run in parallel."""
    return Group(tuple(members))


def chord(members: Group, callback: Step | Chain, policy: Policy | str = Policy.STOP) -> Chord:
    """``members``, then ``callback`` once with their results in member order."""
    return Chord(members, callback, Policy(policy))


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A step of a planned workflow: its task id, type and place (GET reports these)."""

    task_id: str
    type: str
    role: str  # "step" (of a chain), "member" (of a group) or "callback"
    index: int


@dataclass(frozen=True, slots=True)
class WorkflowPlan:
    """A workflow ready to write: its first tasks and every step it may run."""

    id: str
    kind: str
    tasks: list[NewTask]
    steps: list[PlannedStep]
    policy: str = ""
    subject: str = ""

    def record(self) -> str:
        """The workflow's definition as stored for GET (JSON object text)."""
        steps = [[s.task_id, s.type, s.role, s.index] for s in self.steps]
        body = {"id": self.id, "kind": self.kind, "policy": self.policy, "steps": steps,
                "subject": self.subject}  # fmt: skip
        return jsoncodec.dumps(body)


@dataclass(frozen=True, slots=True)
class _Context:
    queue: str
    subject: str
    origin: str
    partition_key: str


def plan(
    workflow: Workflow,
    queue: str,
    *,
    subject: str = "",
    origin: str = "workflow",
    workflow_id: str | None = None,
    partition_key: str | None = None,
) -> WorkflowPlan:
    """Give every step its task id and build the tasks that start the workflow.

    All of a workflow's tasks carry one ``partition_key`` (the given one, else the
    workflow id), so on a partitioned queue they and the workflow's state share a slot.
    """
    wf_id = workflow_id or new_task_id()
    ctx = _Context(queue, subject, origin, partition_key or wf_id)
    _check_size(workflow)
    if isinstance(workflow, Step):
        workflow = Chain((workflow,))
    if isinstance(workflow, Chain):
        return _plan_chain(wf_id, workflow, ctx)
    if isinstance(workflow, Group):
        workflow = Chord(workflow, Chain(()), Policy.CONTINUE)
    return _plan_chord(wf_id, workflow, ctx)


def _check_size(workflow: Workflow) -> None:
    if isinstance(workflow, Chain):
        count = len(workflow.steps)
    elif isinstance(workflow, Group):
        count = len(workflow.members)
    elif isinstance(workflow, Chord):
        tail = workflow.callback
        count = len(workflow.group.members) + (len(tail.steps) if isinstance(tail, Chain) else 1)
    else:
        count = 1
    empty = isinstance(workflow, Chain | Group) and count == 0
    empty = empty or (isinstance(workflow, Chord) and not workflow.group.members)
    if empty or count > MAX_STEPS:
        message = f"a workflow has 1 to {MAX_STEPS} steps, and a group at least one member"
        raise InvalidTaskError(INVALID, [{"loc": "body", "msg": message}])


def _plan_chain(wf_id: str, flow: Chain, ctx: _Context) -> WorkflowPlan:
    ids = [new_task_id() for _ in flow.steps]
    steps = [
        PlannedStep(i, s.type, "step", n)
        for n, (i, s) in enumerate(zip(ids, flow.steps, strict=True))
    ]
    later = [_wire_step(ids[n], s, f"body.steps[{n}]") for n, s in enumerate(flow.steps) if n]
    field: dict[str, Any] = {"id": wf_id}
    if later:
        field["then"] = later
    first = _task(ids[0], flow.steps[0], field, ctx, "body.steps[0]")
    return WorkflowPlan(wf_id, "chain", [first], steps, subject=ctx.subject)


def _plan_chord(wf_id: str, flow: Chord, ctx: _Context) -> WorkflowPlan:
    members = flow.group.members
    ids = [new_task_id() for _ in members]
    steps = [
        PlannedStep(i, s.type, "member", n)
        for n, (i, s) in enumerate(zip(ids, members, strict=True))
    ]
    tail = flow.callback.steps if isinstance(flow.callback, Chain) else (flow.callback,)
    tail_ids = [new_task_id() for _ in tail]
    steps += [
        PlannedStep(i, s.type, "callback", n)
        for n, (i, s) in enumerate(zip(tail_ids, tail, strict=True))
    ]
    wire = [
        _wire_step(i, s, f"body.callback[{n}]")
        for n, (i, s) in enumerate(zip(tail_ids, tail, strict=True))
    ]
    callback: dict[str, Any] | None = None
    if wire:
        callback = wire[0]
        if len(wire) > 1:
            callback["then"] = wire[1:]
    tasks = []
    for n, (task_id, member) in enumerate(zip(ids, members, strict=True)):
        field: dict[str, Any] = {"id": wf_id, "member": n, "size": len(members)}
        field["policy"] = flow.policy.value
        if callback is not None:
            field["callback"] = callback
        tasks.append(_task(task_id, member, field, ctx, f"body.members[{n}]"))
    kind = "chord" if callback is not None else "group"
    return WorkflowPlan(wf_id, kind, tasks, steps, flow.policy.value, ctx.subject)


def _task(task_id: str, step: Step, field: dict[str, Any], ctx: _Context, loc: str) -> NewTask:
    payload = None if step.payload is NO_PAYLOAD else step.payload
    task = new_task(
        step.type,
        payload,
        ctx.queue,
        subject=ctx.subject,
        origin=ctx.origin,
        max_attempts=step.max_attempts,
        timeout=step.timeout,
        partition_key=ctx.partition_key,
        loc=loc,
    )
    envelope = replace(task.envelope, id=task_id, workflow=jsoncodec.dumps(field))
    return replace(task, envelope=envelope)


def _wire_step(task_id: str, step: Step, loc: str) -> dict[str, Any]:
    """A step that runs after another, as the ``workflow`` field carries it."""
    # Validated like any task (type, options), so the worker never meets a bad step.
    new_task(step.type, None, "q", subject="", origin="", loc=loc)
    out: dict[str, Any] = {"id": task_id, "type": step.type}
    if step.payload is not NO_PAYLOAD:
        out["data"] = _step_data(step.payload, loc)
    if step.max_attempts is not None:
        out["max_attempts"] = str(step.max_attempts)
    if step.timeout is not None:
        out["timeout"] = repr(step.timeout)
    return out


def _step_data(payload: Any, loc: str) -> str:
    if not isinstance(payload, dict) or INPUT in payload:
        message = "a step that gets an input takes a JSON object payload without an 'input' key"
        raise InvalidTaskError(INVALID, [{"loc": f"{loc}.payload", "msg": message}])
    try:
        return jsoncodec.dumps(payload)
    except JsonNumberError as exc:
        errors = [{"loc": exc.loc(f"{loc}.payload"), "msg": str(exc)}]
        raise InvalidTaskError(INVALID, errors) from exc


def with_input(input_text: str, data: str | None) -> str:
    """A later step's payload JSON text: the input alone, or ``{"input": ..., ...payload}``.

    The reference for what ``workflow_advance.lua`` builds (a unit test compares them).
    """
    if data is None:
        return input_text
    if data == "{}":
        return '{"input":' + input_text + "}"
    return '{"input":' + input_text + "," + data[1:]


def decode_field(text: str) -> dict[str, Any]:
    """The ``workflow`` field of a task as a dict ({} when the task is in no workflow)."""
    if not text:
        return {}
    value = jsoncodec.loads(text)
    return value if isinstance(value, dict) else {}


def to_body(flow: Workflow, queue: str) -> dict[str, Any]:
    """``flow`` as the body of POST /api/v1/workflows (what the client sends)."""
    if isinstance(flow, Step):
        flow = Chain((flow,))
    if isinstance(flow, Chain):
        return {"queue": queue, "steps": [_step_body(s) for s in flow.steps]}
    if isinstance(flow, Group):
        return {"queue": queue, "members": [_step_body(s) for s in flow.members]}
    tail = flow.callback.steps if isinstance(flow.callback, Chain) else (flow.callback,)
    return {
        "queue": queue,
        "members": [_step_body(s) for s in flow.group.members],
        "callback": [_step_body(s) for s in tail],
        "policy": flow.policy.value,
    }


def from_body(body: dict[str, Any]) -> Workflow:
    """The workflow a POST /api/v1/workflows body describes (already schema-checked)."""
    if body.get("steps") is not None:
        return Chain(tuple(_step_of(s) for s in body["steps"]))
    members = Group(tuple(_step_of(s) for s in body.get("members") or ()))
    callback = body.get("callback")
    if not callback:
        return members
    tail = Chain(tuple(_step_of(s) for s in callback))
    return Chord(members, tail, Policy(body.get("policy") or Policy.STOP))


def _step_body(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"type": step.type}
    if step.payload is not NO_PAYLOAD:
        out["payload"] = step.payload
    if step.max_attempts is not None:
        out["max_attempts"] = step.max_attempts
    if step.timeout is not None:
        out["timeout"] = step.timeout
    return out


def _step_of(body: dict[str, Any]) -> Step:
    return Step(
        body["type"],
        body.get("payload", NO_PAYLOAD),
        body.get("max_attempts"),
        body.get("timeout"),
    )
