"""Lua scripts (``*.lua`` beside this file) and the helper that loads them.

Every multi-step state change in Conveyor is one script, wrapped by a typed
Python function in the module that uses it. Scripts cannot call each other, so
code two scripts share lives in a library script: a first line
``-- requires: <name> ...`` puts those scripts' text before the script's own.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # blocking producers import this module without redis.asyncio
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript


@cache
def script_source(name: str) -> str:
    """The text of ``<name>.lua`` shipped in this package."""
    return resources.files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


_REQUIRES = re.compile(r"\A-- requires: ([a-z_ ]+)\n")


@cache
def script_text(name: str) -> str:
    """``<name>.lua`` with the library scripts its ``-- requires:`` line names before it."""
    source = script_source(name)
    found = _REQUIRES.match(source)
    libraries = found.group(1).split() if found else []
    return "".join(script_text(library) for library in libraries) + source


def register(client: Redis, name: str) -> AsyncScript:
    """Register script ``name`` on ``client`` (EVALSHA with EVAL fallback on NOSCRIPT)."""
    return client.register_script(script_text(name))


@cache
def script_sha(name: str) -> str:
    """The SHA1 that EVALSHA names script ``name`` by."""
    return hashlib.sha1(script_text(name).encode(), usedforsecurity=False).hexdigest()
