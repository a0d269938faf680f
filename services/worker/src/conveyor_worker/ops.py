"""Outcome operations and their flat encoding for the ``worker_commit`` script.

Each op is one task's part of a batched commit. The committer encodes many ops
into one EVALSHA; the script's reply gives each op its own result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain

from conveyor import jsoncodec
from conveyor.envelope import TaskEnvelope
from conveyor.handlers import Effects, ResultTemplate
from conveyor.keys import QueueKeys

Arg = str | bytes
Fields = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]
RawFields = Mapping[bytes, bytes] | Mapping[str, str]
Reply = int | bytes | str | None


class OpKind(StrEnum):
    """The op codes the commit script understands."""

    START = "S"  # started event, unless the task was cancelled or changed
    PUBLISH_START = "P"  # started event only: no task was cancelled a moment ago
    ACK = "A"  # XACK + event
    TIMER = "T"  # XACK + timers-in entry + event
    DEAD = "D"  # XACK + dead letter + event
    EFFECT = "E"  # effects + mark + XACK + succeeded event, once per idempotency mark


def flatten(fields: Fields | None) -> list[Arg]:
    """``{"a": "1"}`` -> ``["1", "a", "1"]``: a field list prefixed by its length."""
    if not fields:
        return ["0"]
    return [str(len(fields) * 2), *chain.from_iterable(fields.items())]


@dataclass(slots=True)
class Op:
    """One task outcome (or start) to commit; ``reply`` is set once it is committed."""

    kind: OpKind
    entry_id: str
    parts: Sequence[Arg]
    reply: asyncio.Future[Reply] | None = None

    def encode(self, key_index: Callable[[str], int]) -> list[Arg]:
        """The op's ARGV slice (plain ops reference no extra keys)."""
        return [self.kind.value, self.entry_id, *self.parts]


@dataclass(slots=True)
class EffectCommit(Op):
    """A success whose handler queued effects: applied once per idempotency mark."""

    mark_key: str = ""
    effects: Effects = field(default_factory=Effects)
    template: ResultTemplate | None = None
    queue_keys: QueueKeys | None = None

    def encode(self, key_index: Callable[[str], int]) -> list[Arg]:
        """The op's ARGV slice; mark and effect keys become indexes into KEYS."""
        assert self.template is not None  # noqa: S101 - set by the constructor helper
        assert self.queue_keys is not None  # noqa: S101 - set by the constructor helper
        args: list[Arg] = ["E", self.entry_id, str(key_index(self.mark_key))]
        args.append(str(len(self.effects.ops)))
        for effect in self.effects.ops:
            key = self.queue_keys.effect_key(effect.name)
            args += [effect.op.value, str(key_index(key)), str(len(effect.args)), *effect.args]
        template = self.template
        args.append(str(len(template.literals)))
        args.append(template.literals[0])
        for ref, literal in zip(template.refs, template.literals[1:], strict=True):
            args += [str(ref.index), literal]
        args += self.parts  # the succeeded event's fields, flattened
        return args


def op(kind: OpKind, entry_id: str, *field_lists: Fields | None, task_id: str | None = None) -> Op:
    """A plain op: its field lists in the order the script reads them."""
    parts: list[Arg] = [] if task_id is None else [task_id]
    for fields in field_lists:
        parts += flatten(fields)
    return Op(kind, entry_id, parts)


def effect_commit(
    entry_id: str,
    queue_keys: QueueKeys,
    idempotency_key: str,
    effects: Effects,
    template: ResultTemplate,
    event: Fields,
) -> EffectCommit:
    """An effect commit for one task (the event gets ``result`` added by the script)."""
    return EffectCommit(
        OpKind.EFFECT,
        entry_id,
        flatten(event),
        mark_key=queue_keys.effect_mark(idempotency_key),
        effects=effects,
        template=template,
        queue_keys=queue_keys,
    )


@dataclass(slots=True)
class WorkflowStep(Op):
    """A workflow step's outcome: ``inner`` (any op), then the step recorded and what
    follows it enqueued in the same commit (``workflow_advance.lua``).

    ``kind`` is the inner op's kind, so a dead letter's raw bytes travel as before.
    """

    inner: Op | None = None
    state_key: str = ""
    header: Sequence[Arg] = ()

    def encode(self, key_index: Callable[[str], int]) -> list[Arg]:
        """``W state header... inner...``: the state hash becomes an index into KEYS."""
        assert self.inner is not None  # noqa: S101 - set by the constructor helper
        return ["W", str(key_index(self.state_key)), *self.header, *self.inner.encode(key_index)]


def workflow_step(
    inner: Op, queue_keys: QueueKeys, envelope: TaskEnvelope, status: str, result: str, error: str
) -> WorkflowStep:
    """Wrap ``inner`` (the outcome of a task in a workflow). ``result`` "" for an effect
    commit: the script takes the result it stored."""
    state_key = queue_keys.workflow_state(_workflow_id(envelope.workflow))
    header = [envelope.id, status, result, error, envelope.workflow, envelope.queue,
              envelope.subject, envelope.partition_key]  # fmt: skip
    return WorkflowStep(inner.kind, inner.entry_id, (), inner=inner, state_key=state_key,
                        header=header)  # fmt: skip


def _workflow_id(text: str) -> str:
    value = jsoncodec.loads(text)
    return str(value.get("id", "")) if isinstance(value, dict) else ""
