"""Task priorities: the levels, their weights and how a level is named on the wire.

A queue partition has one task stream per level, all under the partition's hash tag
(``QueueKeys.at_level``): ``normal`` is the partition's original ``tasks`` stream, so
a deployment that never uses another level reads and writes exactly what it did
before. A task's level travels in its ``priority`` field, left out when ``normal``:
retries, delays, deferrals and replays copy the envelope and so keep it.

Workers serve the levels by weight (``WEIGHTS``), never strictly highest first: see
``conveyor_worker.levels``.
"""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    """A task's level. ``normal`` is the default and is not written on the wire."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


# Highest first. Shares of a worker's slots when every level has work: 6 : 3 : 1.
LEVELS = (Priority.HIGH, Priority.NORMAL, Priority.LOW)
WEIGHTS = {Priority.HIGH: 6, Priority.NORMAL: 3, Priority.LOW: 1}
PRIORITY_NAMES = ", ".join(level.value for level in LEVELS)


def parse_priority(text: str) -> Priority:
    """The level named by ``text`` (``""`` is ``normal``); ValueError names the choices."""
    if not text:
        return Priority.NORMAL
    try:
        return Priority(text)
    except ValueError:
        msg = f"priority {text!r} is not one of {PRIORITY_NAMES}"
        raise ValueError(msg) from None


def wire_priority(level: Priority | str | None) -> str:
    """The ``priority`` field's value for ``level``: ``""`` (left out) for normal."""
    parsed = parse_priority(level or "")
    return "" if parsed is Priority.NORMAL else parsed.value
