"""The effect API: Redis writes a handler queues, committed atomically with the task's mark.

A handler does not write to Redis itself. It queues operations on
``ctx.effects``; the worker commits them in one Lua step together with the
task's idempotency mark, the XACK and the lifecycle event. If the mark already
exists (a redelivery), nothing is applied again and the stored result is
returned instead.

Operations that produce a value (``incrby``, ``hincrby``, ``get``, ``hget``)
return a :class:`Ref`: a placeholder resolved inside the commit. A handler may
put refs anywhere in its return value; the stored result is the return value
with each ref replaced by the value the commit computed, so e.g. a balance
comes out of the atomic INCRBY, never from a read followed by a write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conveyor import jsoncodec

MAX_EFFECTS = 64
_NAME = re.compile(r"^[A-Za-z0-9_.:/@+=-]{1,200}$")
_SENTINEL = "\x00ref:{}\x00"
_SENTINEL_JSON = re.compile(r'"\\u0000ref:(\d+)\\u0000"')


class EffectOp(StrEnum):
    """The Redis operations the effect API offers (each one command in the commit)."""

    INCRBY = "incrby"
    HINCRBY = "hincrby"
    SET = "set"
    HSET = "hset"
    GET = "get"
    HGET = "hget"
    DELETE = "del"


class RefKind(StrEnum):
    """How a resolved value is written into the JSON result."""

    INTEGER = "i"  # written as a JSON number
    TEXT = "s"  # written as a JSON string (null when the key or field is missing)


@dataclass(frozen=True, slots=True)
class Ref:
    """A value computed inside the commit, e.g. the new balance after INCRBY."""

    index: int
    kind: RefKind


@dataclass(frozen=True, slots=True)
class Effect:
    """One queued operation on an effect key (``name`` becomes ``QueueKeys.effect_key``)."""

    op: EffectOp
    name: str
    args: tuple[str, ...]


@dataclass(slots=True)
class Effects:
    """The operations one handler run has queued, in order."""

    ops: list[Effect] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.ops)

    def incrby(self, name: str, amount: int) -> Ref:
        """INCRBY effect key ``name`` by ``amount``; the ref resolves to the new value."""
        return self._add(EffectOp.INCRBY, name, (str(int(amount)),), RefKind.INTEGER)

    def hincrby(self, name: str, field_name: str, amount: int) -> Ref:
        """HINCRBY a hash field; the ref resolves to the new value."""
        return self._add(EffectOp.HINCRBY, name, (field_name, str(int(amount))), RefKind.INTEGER)

    def set(self, name: str, value: str, ttl_ms: int | None = None) -> None:
        """SET effect key ``name`` (with an expiry in ms when given)."""
        args = (value,) if ttl_ms is None else (value, str(int(ttl_ms)))
        self._add(EffectOp.SET, name, args, None)

    def hset(self, name: str, field_name: str, value: str) -> None:
        """HSET one field of a hash."""
        self._add(EffectOp.HSET, name, (field_name, value), None)

    def get(self, name: str) -> Ref:
        """Read effect key ``name`` inside the commit, after the operations queued before."""
        return self._add(EffectOp.GET, name, (), RefKind.TEXT)

    def hget(self, name: str, field_name: str) -> Ref:
        """Read a hash field inside the commit."""
        return self._add(EffectOp.HGET, name, (field_name,), RefKind.TEXT)

    def delete(self, name: str) -> None:
        """DEL effect key ``name``."""
        self._add(EffectOp.DELETE, name, (), None)

    def _add(self, op: EffectOp, name: str, args: tuple[str, ...], kind: RefKind | None) -> Ref:
        if not _NAME.match(name):
            msg = f"invalid effect key name {name!r}"
            raise ValueError(msg)
        if len(self.ops) >= MAX_EFFECTS:
            msg = f"a task may queue at most {MAX_EFFECTS} effects"
            raise ValueError(msg)
        self.ops.append(Effect(op, name, args))
        return Ref(len(self.ops) - 1, kind or RefKind.TEXT)


@dataclass(frozen=True, slots=True)
class ResultTemplate:
    """A JSON result split around its refs: ``literals[0] ref0 literals[1] ref1 ...``."""

    literals: tuple[str, ...]
    refs: tuple[Ref, ...]


def result_template(value: Any, effects: Effects) -> ResultTemplate:
    """Encode a handler's return value as JSON with holes where refs are.

    Raises TypeError/ValueError when the value is not JSON-serialisable.
    """
    refs: list[Ref] = []

    def _default(obj: object) -> object:
        if isinstance(obj, Ref):
            if obj.index >= len(effects.ops):
                msg = "a ref from another task's effects"
                raise ValueError(msg)
            return _SENTINEL.format(obj.index)
        msg = f"{type(obj).__name__} is not JSON-serialisable"
        raise TypeError(msg)

    text = jsoncodec.dumps(value, default=_default)
    pieces = _SENTINEL_JSON.split(text)
    literals = tuple(pieces[0::2])
    for index in pieces[1::2]:
        ref_index = int(index)
        kind = _kind_of(effects.ops[ref_index].op)
        refs.append(Ref(ref_index, kind))
    return ResultTemplate(literals, tuple(refs))


def _kind_of(op: EffectOp) -> RefKind:
    return RefKind.INTEGER if op in (EffectOp.INCRBY, EffectOp.HINCRBY) else RefKind.TEXT
