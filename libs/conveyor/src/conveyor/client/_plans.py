"""Client operations as plans: generators that yield I/O steps and get their replies.

Each client operation (enqueue, get, wait, cancel, change) is written once, as a
plan per transport (``_direct``, ``_http``); a runner executes its steps with a
blocking or an asyncio client. So ``Client`` and ``AsyncClient`` cannot drift,
and the blocking client is a real blocking client (no event loop in a thread).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # the HTTP transport never loads the key layout (nor its settings)
    from conveyor.keys import QueueKeys

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause the plan (between polls of a task's status)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """Read ``task_id``'s read-model record from whichever of ``shards`` holds it.

    Reply: ``(shard, record)`` or None.
    """

    shards: list[QueueKeys]
    task_id: str


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One request to the ingest API. Reply: :class:`HttpReply`."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None  # None: the client's; a held GET ?wait= needs longer


@dataclass(frozen=True, slots=True)
class HttpReply:
    """An API answer: status, headers that matter, body bytes."""

    status: int
    body: bytes
    retry_after: str | None = None


# A plan yields steps (ScriptCall, ReadRecord, HttpCall, Sleep), is sent each step's
# reply, and returns its result.
Plan = Generator[Any, Any, T]


def finish(plan: Plan[T], reply: Any) -> tuple[Any, T | None, bool]:
    """Send ``reply`` into ``plan``: (next step, None, False) or (None, result, True)."""
    try:
        return plan.send(reply), None, False
    except StopIteration as stop:
        return None, stop.value, True
