"""The declarative schedules file (YAML), applied at start through the schedule store.

Format: a top-level ``schedules:`` list of ScheduleDefinition mappings (see
docs/scheduler.md; the reader is ``conveyor.schedule_files``, shared with the CLI). A
file schedule without ``created_at_ms`` gets 0 (the Unix epoch): its ``@every``
instants are then the same on every replica and across restarts, instead of depending
on when a replica read the file.
"""

from __future__ import annotations

from pathlib import Path

from conveyor import schedule_files
from conveyor.schedules import ScheduleDefinition

FILE_DEFAULTS = {"created_at_ms": 0}


def parse_schedules(text: str, origin: str = "schedules file") -> list[ScheduleDefinition]:
    """Definitions in a YAML document; raises ConfigurationError naming the bad entry."""
    return schedule_files.parse_schedules(text, origin, FILE_DEFAULTS)


def load_schedules_file(path: Path) -> list[ScheduleDefinition]:
    """Definitions in the YAML file at ``path``."""
    return schedule_files.load_schedules_file(path, FILE_DEFAULTS)
