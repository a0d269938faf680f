"""Load handler modules: importing a module registers its handlers on its Registry."""

from __future__ import annotations

import importlib

from conveyor.errors import ConfigurationError
from conveyor.handlers import Registry


def load_registry(modules: list[str]) -> Registry:
    """Import ``modules`` and merge every Registry object they define at top level."""
    merged = Registry()
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            msg = f"CONVEYOR_WORKER_HANDLERS: cannot import {name!r}: {exc}"
            raise ConfigurationError(msg) from exc
        found = [value for value in vars(module).values() if isinstance(value, Registry)]
        if not found:
            msg = f"CONVEYOR_WORKER_HANDLERS: module {name!r} defines no conveyor.handlers.Registry"
            raise ConfigurationError(msg)
        for registry in found:
            merged.merge(registry)
    return merged
