"""The effect API's result templates and the eager first step of handler coroutines."""

from __future__ import annotations

import pytest

from conveyor.handlers import Effects, Registry, TaskContext, result_template
from conveyor.handlers._effects import MAX_EFFECTS


def test_template_splits_the_json_result_around_refs() -> None:
    effects = Effects()
    balance = effects.incrby("balance:a", 5)
    note = effects.get("note")
    template = result_template({"b": balance, "n": [note], "s": "x"}, effects)
    assert template.literals == ('{"b":', ',"n":[', '],"s":"x"}')
    assert [r.index for r in template.refs] == [0, 1]


def test_template_without_refs_is_plain_json() -> None:
    template = result_template({"a": "\x00ref:0\x00 is just text"}, Effects())
    assert template.refs == ()
    assert template.literals == ('{"a":"\\u0000ref:0\\u0000 is just text"}',)


def test_effects_refuse_bad_names_and_too_many_ops() -> None:
    effects = Effects()
    with pytest.raises(ValueError, match="invalid effect key"):
        effects.incrby("has space", 1)
    for n in range(MAX_EFFECTS):
        effects.delete(f"k{n}")
    with pytest.raises(ValueError, match="at most"):
        effects.delete("one-more")


def test_registry_refuses_a_type_registered_twice() -> None:
    registry = Registry()

    @registry.handler("x.y")
    async def one(ctx: TaskContext, payload: object) -> None:
        return None

    with pytest.raises(Exception, match="twice"):
        registry.handler("x.y")(one)
