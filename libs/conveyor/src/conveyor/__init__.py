"""Conveyor: a Redis Streams task system. This package is its library.

Applications use the client and task declarations re-exported here::

    from conveyor import Client, AsyncClient, declare

Names are loaded on first use, so the services' imports of ``conveyor.<module>``
do not load the client, and ``import conveyor`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from conveyor._version import __version__

if TYPE_CHECKING:
    from conveyor.client import AsyncClient, AsyncTaskRef, Client, TaskRef, TaskStatus, TaskView
    from conveyor.declarations import TaskDeclaration, declare
    from conveyor.workflows import Step, chain, chord, group, step

_EXPORTS = {
    "AsyncClient": "conveyor.client",
    "AsyncTaskRef": "conveyor.client",
    "Client": "conveyor.client",
    "TaskRef": "conveyor.client",
    "TaskStatus": "conveyor.status",
    "TaskView": "conveyor.client",
    "TaskDeclaration": "conveyor.declarations",
    "declare": "conveyor.declarations",
    "Step": "conveyor.workflows",
    "chain": "conveyor.workflows",
    "chord": "conveyor.workflows",
    "group": "conveyor.workflows",
    "step": "conveyor.workflows",
}

__all__ = [
    "AsyncClient",
    "AsyncTaskRef",
    "Client",
    "Step",
    "TaskDeclaration",
    "TaskRef",
    "TaskStatus",
    "TaskView",
    "__version__",
    "chain",
    "chord",
    "declare",
    "group",
    "step",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'conveyor' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(import_module(module), name)
