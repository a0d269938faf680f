"""The handler SDK: write task handlers against this package; the worker service runs them.

```python
from pydantic import BaseModel
from conveyor.handlers import Registry, TaskContext

registry = Registry()

class Deposit(BaseModel):
    account: str
    amount: int

@registry.handler("bank.deposit", model=Deposit, max_attempts=3)
async def deposit(ctx: TaskContext, payload: Deposit) -> dict[str, object]:
    balance = ctx.effects.incrby(f"balance:{payload.account}", payload.amount)
    return {"account": payload.account, "balance": balance}
```
"""

from __future__ import annotations

from conveyor.errors import Drop, PermanentError, Retry
from conveyor.handlers._backoff import Backoff
from conveyor.handlers._context import TaskContext
from conveyor.handlers._effects import (
    Effect,
    EffectOp,
    Effects,
    Ref,
    RefKind,
    ResultTemplate,
    result_template,
)
from conveyor.handlers._lifespan import ResourceKey, Resources
from conveyor.handlers._registry import (
    Handler,
    HandlerFunc,
    HandlerOptions,
    InvalidPayloadError,
    Registry,
)

__all__ = [
    "Backoff",
    "Drop",
    "Effect",
    "EffectOp",
    "Effects",
    "Handler",
    "HandlerFunc",
    "HandlerOptions",
    "InvalidPayloadError",
    "PermanentError",
    "Ref",
    "RefKind",
    "Registry",
    "ResourceKey",
    "Resources",
    "ResultTemplate",
    "Retry",
    "TaskContext",
    "result_template",
]
