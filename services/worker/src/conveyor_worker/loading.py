"""Load handler modules: importing a module registers its handlers on its Registry."""

from __future__ import annotations

import importlib
import os
import sys

from conveyor.errors import ConfigurationError
from conveyor.handlers import Registry


def load_registry(modules: list[str]) -> Registry:
    """Import ``modules`` and merge every Registry object they define at top level.

    The current folder is on the import path (as Celery's and arq's workers do), so
    ``CONVEYOR_WORKER_HANDLERS=myapp.tasks conveyor-worker`` run beside ``myapp/``
    finds it, as ``python -m conveyor_worker`` would.
    """
    _import_from_current_folder()
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


def _import_from_current_folder() -> None:
    """Append the current folder to ``sys.path`` unless it is there already.

    Appended, not prepended: a file in the current folder never shadows an installed
    package the worker (or a handler, lazily) imports. ``""`` on the path (``python -c``)
    already means the current folder.
    """
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)
