"""A workflow's view from its record and its steps' task statuses (pure, table-driven)."""

from __future__ import annotations

import pytest

from conveyor.producing.flows import step_views, workflow_status

CHAIN = {"kind": "chain", "policy": "", "steps": [["a", "t", "step", 0], ["b", "t", "step", 1],
                                                  ["c", "t", "step", 2]]}  # fmt: skip
CHORD = {"kind": "chord", "policy": "stop", "steps": [["m0", "t", "member", 0],
         ["m1", "t", "member", 1], ["cb", "t", "callback", 0]]}  # fmt: skip
GROUP = {"kind": "group", "policy": "continue", "steps": [["m0", "t", "member", 0],
         ["m1", "t", "member", 1]]}  # fmt: skip


@pytest.mark.parametrize(
    ("record", "statuses", "states", "status"),
    [
        (CHAIN, ["pending", None, None], ["pending", "waiting", "waiting"], "running"),
        (CHAIN, ["succeeded", "running", None], ["succeeded", "running", "waiting"], "running"),
        (CHAIN, ["succeeded", "dead", None], ["succeeded", "dead", "not_run"], "failed"),
        (CHAIN, ["cancelled", None, None], ["cancelled", "not_run", "not_run"], "cancelled"),
        (CHAIN, ["succeeded"] * 3, ["succeeded"] * 3, "succeeded"),
        (CHORD, ["succeeded", "dead", None], ["succeeded", "dead", "not_run"], "failed"),
        (CHORD, ["succeeded", "running", None], ["succeeded", "running", "waiting"], "running"),
        (CHORD, ["cancelled", "succeeded", None], ["cancelled", "succeeded", "not_run"],
         "cancelled"),
        ({**CHORD, "policy": "continue"}, ["succeeded", "dead", "succeeded"],
         ["succeeded", "dead", "succeeded"], "succeeded"),
        ({**CHORD, "policy": "continue"}, ["succeeded", "dead", None],
         ["succeeded", "dead", "waiting"], "running"),
        (GROUP, ["succeeded", "dead"], ["succeeded", "dead"], "failed"),
        (GROUP, ["succeeded", "succeeded"], ["succeeded", "succeeded"], "succeeded"),
    ],
)  # fmt: skip
def test_states_and_status(
    record: dict[str, object], statuses: list[str | None], states: list[str], status: str
) -> None:
    tasks = [None if s is None else {"status": s} for s in statuses]
    views = step_views(record, tasks)
    assert [v.state for v in views] == states
    assert workflow_status(record, views) == status
