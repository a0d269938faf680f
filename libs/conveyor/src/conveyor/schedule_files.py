"""The declarative schedules file (YAML): a top-level ``schedules:`` list of definitions.

Read by the scheduler (applied at start) and by ``conveyor schedules apply`` (applied
through the API); see docs/scheduler.md for the format. Needs PyYAML (the scheduler's
dependency, and the ``[cli]`` extra's).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from conveyor.errors import ConfigurationError
from conveyor.schedules import ScheduleDefinition


def parse_schedules(
    text: str, origin: str = "schedules file", defaults: Mapping[str, Any] | None = None
) -> list[ScheduleDefinition]:
    """Definitions in a YAML document (each entry over ``defaults``); raises
    ConfigurationError naming the bad entry."""
    try:
        document: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"{origin}: not valid YAML: {exc}"
        raise ConfigurationError(msg) from exc
    if document is None:
        return []
    items = document.get("schedules") if isinstance(document, dict) else None
    if not isinstance(items, list):
        msg = f"{origin}: expected a top-level 'schedules:' list"
        raise ConfigurationError(msg)
    definitions = [
        _definition(item, index, origin, defaults or {}) for index, item in enumerate(items)
    ]
    ids = [definition.id for definition in definitions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        msg = f"{origin}: schedule id {duplicates[0]!r} is defined twice"
        raise ConfigurationError(msg)
    return definitions


def load_schedules_file(
    path: Path, defaults: Mapping[str, Any] | None = None
) -> list[ScheduleDefinition]:
    """Definitions in the YAML file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read schedules file {path}: {exc.strerror}"
        raise ConfigurationError(msg) from exc
    return parse_schedules(text, str(path), defaults)


def _definition(
    item: object, index: int, origin: str, defaults: Mapping[str, Any]
) -> ScheduleDefinition:
    if not isinstance(item, dict):
        msg = f"{origin}: schedules[{index}] must be a mapping"
        raise ConfigurationError(msg)
    try:
        return ScheduleDefinition.model_validate({**defaults, **item})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        name = item.get("id", index)
        msg = f"{origin}: schedule {name!r}: {where}: {first['msg']}"
        raise ConfigurationError(msg) from exc
