"""Example handlers used by the quick start and the tests.

- ``demo.echo`` returns its payload.
- ``demo.sleep`` sleeps ``seconds`` (a long task, for lease and timeout tests).
- ``demo.fail`` fails ``times`` times (attempts 1..times), then succeeds.
- ``demo.ledger`` adds ``amount`` to ``account``'s balance through the effect API and
  returns the balance right after its own amount was added: exactly once per task,
  however often it is delivered.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from conveyor.handlers import Backoff, Ref, Registry, TaskContext

registry = Registry()


class SleepPayload(BaseModel):
    """Payload of ``demo.sleep``."""

    seconds: float = Field(ge=0)


class FailPayload(BaseModel):
    """Payload of ``demo.fail``."""

    times: int = Field(ge=0)


class LedgerPayload(BaseModel):
    """Payload of ``demo.ledger``."""

    account: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    amount: int


class DemoFailureError(RuntimeError):
    """The deliberate failure of ``demo.fail``."""


@registry.handler("demo.echo")
async def echo(ctx: TaskContext, payload: Any) -> Any:
    """Return the payload unchanged."""
    return payload


@registry.handler("demo.sleep", model=SleepPayload)
async def sleep(ctx: TaskContext, payload: SleepPayload) -> dict[str, float]:
    """Sleep ``seconds``, then return them."""
    await asyncio.sleep(payload.seconds)
    return {"slept": payload.seconds}


@registry.handler(
    "demo.fail", model=FailPayload, max_attempts=5, backoff=Backoff(base=0.1, cap=1.0)
)
async def fail(ctx: TaskContext, payload: FailPayload) -> dict[str, int]:
    """Fail on attempts 1..times, succeed on the next."""
    if ctx.attempt <= payload.times:
        msg = f"demo failure on attempt {ctx.attempt} of {payload.times}"
        raise DemoFailureError(msg)
    return {"attempts": ctx.attempt}


@registry.handler("demo.ledger", model=LedgerPayload)
async def ledger(ctx: TaskContext, payload: LedgerPayload) -> dict[str, str | Ref]:
    """Add ``amount`` to the balance; the balance comes out of the atomic commit."""
    balance = ctx.effects.incrby(f"balance:{payload.account}", payload.amount)
    return {"account": payload.account, "balance": balance}
