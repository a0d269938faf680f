"""Planning workflows: ids given up front, the ``workflow`` wire field, refused shapes."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from conveyor.declarations import declare
from conveyor.envelope import decode_envelope
from conveyor.errors import EnvelopeDecodeError, InvalidTaskError
from conveyor.timers import TimerKind, decode_timer, timer_fields
from conveyor.workflows import Step, chain, chord, group, plan, step, with_input


def test_chain_plans_one_task_carrying_the_later_steps_with_their_ids() -> None:
    flow = plan(chain(Step("a.b", 1), Step("c.d", {"k": 1}, max_attempts=2), Step("e.f")), "q")
    [first] = flow.tasks
    field = json.loads(first.envelope.workflow)
    assert field["id"] == flow.id
    assert [s["id"] for s in field["then"]] == [s.task_id for s in flow.steps[1:]]
    assert field["then"][0] == {
        "id": flow.steps[1].task_id, "type": "c.d", "data": '{"k":1}', "max_attempts": "2",
    }  # fmt: skip
    assert "data" not in field["then"][1]  # no payload: the input alone
    assert first.envelope.id == flow.steps[0].task_id
    assert first.envelope.partition_key == flow.id  # one partition per workflow


def test_chord_members_each_carry_their_index_and_the_callback() -> None:
    flow = plan(chord(group(Step("a.b"), Step("a.b")), Step("c.d"), "continue"), "q")
    fields = [json.loads(t.envelope.workflow) for t in flow.tasks]
    assert [f["member"] for f in fields] == [0, 1]
    assert {f["size"] for f in fields} == {2}
    assert {f["policy"] for f in fields} == {"continue"}
    assert fields[0]["callback"]["id"] == flow.steps[2].task_id
    assert [s.role for s in flow.steps] == ["member", "member", "callback"]


@pytest.mark.parametrize(
    ("flow", "loc"),
    [
        (chain(Step("a.b"), Step("c.d", [1])), "body.steps[1].payload"),
        (chain(Step("a.b"), Step("c.d", {"input": 1})), "body.steps[1].payload"),
        (chain(Step("a.b"), Step("no spaces")), "body.steps[1]"),
        (chain(), "body"),
        (chord(group(), Step("a.b")), "body"),
    ],
)
def test_bad_workflows_are_refused_with_the_step_that_is_wrong(flow: object, loc: str) -> None:
    with pytest.raises(InvalidTaskError) as caught:
        plan(flow, "q")  # type: ignore[arg-type]
    assert caught.value.errors[0]["loc"] == loc


@pytest.mark.parametrize(
    ("data", "expected"),
    [(None, "[1,2]"), ("{}", '{"input":[1,2]}'), ('{"a":1}', '{"input":[1,2],"a":1}')],
)
def test_a_later_step_gets_the_input_by_text(data: str | None, expected: str) -> None:
    assert with_input("[1,2]", data) == expected


@pytest.mark.parametrize("value", ["not json", "[1]", '{"id": 3}'])
def test_a_malformed_workflow_field_does_not_decode(value: str) -> None:
    fields = {"v": "1", "id": "t1", "type": "a.b", "data": "null", "workflow": value}
    with pytest.raises(EnvelopeDecodeError, match="workflow"):
        decode_envelope("1-0", fields, "q")


def test_a_retry_keeps_the_workflow_field_through_the_timer_stream() -> None:
    """The scheduler re-enqueues a retry from its decoded envelope: the field must survive."""
    [task] = plan(chain(Step("a.b", 1), Step("c.d")), "q").tasks
    timer = timer_fields(task.envelope.next_attempt(), 5, TimerKind.RETRY)
    decoded = decode_timer("1-0", timer, "q").envelope
    assert decoded.workflow == task.envelope.workflow
    assert decoded.to_fields()["workflow"] == task.envelope.workflow


def test_a_step_by_declaration_dumps_its_payload_and_takes_its_defaults() -> None:
    class Order(BaseModel):
        id: int

    price = declare("orders.price", payload=Order, result=int, max_attempts=4)
    made = step(price, Order(id=7), timeout=2.0)
    assert made == Step("orders.price", {"id": 7}, 4, 2.0)
    assert step("a.b") == Step("a.b")
