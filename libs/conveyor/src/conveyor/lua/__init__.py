"""Lua scripts (``*.lua`` beside this file) and the helper that loads them.

Every multi-step state change in Conveyor is one script, wrapped by a typed
Python function in the module that uses it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


@cache
def script_source(name: str) -> str:
    """The text of ``<name>.lua`` shipped in this package."""
    return resources.files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


def register(client: Redis, name: str) -> AsyncScript:
    """Register script ``name`` on ``client`` (EVALSHA with EVAL fallback on NOSCRIPT)."""
    return client.register_script(script_source(name))
