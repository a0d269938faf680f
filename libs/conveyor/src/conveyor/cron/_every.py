"""`@every <duration>` schedules: fixed intervals in absolute time.

They fire at anchor + k * interval for k >= 1, where the anchor is the
schedule's stored creation instant, so every replica computes the same
instants. Time zones and DST do not affect them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from conveyor.cron._errors import CronError

_PART = re.compile(r"(\d+)([hms])")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True, slots=True)
class IntervalRule:
    """Fire instants anchor + k * interval, k >= 1."""

    anchor: datetime
    interval: timedelta

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after `after`, or None past datetime's range."""
        elapsed = (after - self.anchor) // self.interval
        try:
            return (self.anchor + max(1, elapsed + 1) * self.interval).astimezone(UTC)
        except OverflowError:
            return None


def parse_duration(text: str) -> timedelta:
    """Read a Go-style duration made of h, m and s parts, e.g. `1h30m10s`."""
    parts = _PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise CronError("@every", f"{text!r} is not a duration like 1h30m10s (units h, m, s)")
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds <= 0:
        raise CronError("@every", f"duration {text!r} must be at least 1s")
    return timedelta(seconds=seconds)
