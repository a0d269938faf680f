"""``schedules apply``: the diff between a schedules file and the API's schedules.

A file definition is compared with the applied one field by field (the task's fields
one by one), leaving out ``created_at_ms`` unless the file gives it: a replace keeps
the creation instant, so ``@every`` schedules do not shift. What is sent is what the
file says (its unset fields take their defaults on the server, as with POST).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.text import Text

from conveyor.client._admin import Schedules
from conveyor.schedules import ScheduleDefinition

CREATE, REPLACE, DELETE = "create", "replace", "delete"


@dataclass(frozen=True, slots=True)
class Change:
    """One schedule to create, replace or delete, and the fields that differ."""

    id: str
    action: str
    body: dict[str, Any] | None = None
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """What applying a file changes, and the schedules it leaves as they are."""

    changes: list[Change]
    unchanged: list[str]

    @property
    def empty(self) -> bool:
        """Whether the file matches the applied schedules."""
        return not self.changes

    def ids(self, action: str) -> list[str]:
        """The schedules with ``action``."""
        return [change.id for change in self.changes if change.action == action]

    def counts(self) -> str:
        """``1 created, 2 replaced, 0 deleted, 3 unchanged``."""
        done = (f"{len(self.ids(a))} {a}d" for a in (CREATE, REPLACE, DELETE))
        return ", ".join([*done, f"{len(self.unchanged)} unchanged"])

    def summary(self) -> dict[str, Any]:
        """The plan as JSON: ids per action, and each change's fields (old, new)."""
        changes = [
            {"id": c.id, "action": c.action,
             "fields": [{"field": f, "old": old, "new": new} for f, old, new in c.fields]}
            for c in self.changes
        ]  # fmt: skip
        return {
            "create": self.ids(CREATE), "replace": self.ids(REPLACE),
            "delete": self.ids(DELETE), "unchanged": self.unchanged, "changes": changes,
        }  # fmt: skip


def _flat(definition: ScheduleDefinition, keep_created: bool) -> dict[str, Any]:
    data = definition.model_dump(mode="json", exclude=None if keep_created else {"created_at_ms"})
    task = data.pop("task")
    return {**data, **{f"task.{name}": value for name, value in task.items()}}


def _differences(
    wanted: ScheduleDefinition, current: ScheduleDefinition
) -> list[tuple[str, Any, Any]]:
    keep = "created_at_ms" in wanted.model_fields_set
    new, old = _flat(wanted, keep), _flat(current, keep)
    return [(name, old.get(name), new[name]) for name in new if old.get(name) != new[name]]


def plan_changes(
    wanted: list[ScheduleDefinition], applied: list[dict[str, Any]], prune: bool
) -> SchedulePlan:
    """What makes ``applied`` (the API's listing) match ``wanted`` (the file)."""
    current = {
        item["schedule"]["id"]: ScheduleDefinition.model_validate(item["schedule"])
        for item in applied
    }
    changes: list[Change] = []
    unchanged: list[str] = []
    for definition in wanted:
        body = definition.model_dump(mode="json", exclude_unset=True)
        before = current.get(definition.id)
        if before is None:
            changes.append(Change(definition.id, CREATE, body))
            continue
        differs = _differences(definition, before)
        if differs:
            changes.append(Change(definition.id, REPLACE, body, differs))
        else:
            unchanged.append(definition.id)
    if prune:
        named = {definition.id for definition in wanted}
        changes += [Change(i, DELETE) for i in sorted(current) if i not in named]
    return SchedulePlan(changes, unchanged)


def draw_plan(out: Console, plan: SchedulePlan) -> None:
    """The diff: ``+ id`` created, ``~ id`` replaced (with each field), ``- id`` deleted."""
    marks = {CREATE: ("+", "green"), REPLACE: ("~", "yellow"), DELETE: ("-", "red")}
    for change in plan.changes:
        mark, colour = marks[change.action]
        out.print(Text(f"{mark} {change.id} ({change.action})", style=colour))
        if change.action == REPLACE:
            for name, old, new in change.fields:
                out.print(Text(f"    {name}: {old!r} -> {new!r}"))
    out.print(
        f"plan: {plan.counts()}" if plan.changes else "no changes: the schedules match the file"
    )


def apply_plan(schedules: Schedules, plan: SchedulePlan) -> None:
    """Create, replace and delete as planned."""
    for change in plan.changes:
        if change.action == CREATE and change.body is not None:
            schedules.create(change.body)
        elif change.action == REPLACE and change.body is not None:
            schedules.replace(change.body)
        else:
            schedules.delete(change.id)
