"""Next fire time of a calendar (field-based) schedule.

The search runs on naive local wall times, field by field from the year down
to the second, jumping with bisect instead of stepping through seconds. It is
bounded by the year field (at most 2099), so it always terminates.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from conveyor.cron._days import DayRule
from conveyor.cron._zones import search_start, wall_to_instant

_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class CalendarFields:
    """The expanded fields of a cron expression, each sorted ascending."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: DayRule
    months: tuple[int, ...]
    years: tuple[int, ...]


@dataclass(slots=True)
class CalendarRule:
    """Fire instants of a field-based schedule in one time zone."""

    fields: CalendarFields
    zone: ZoneInfo
    # Per (year, month) day lists; bounded by 130 years x 12 months.
    _day_cache: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after the aware datetime `after`."""
        start = search_start(after, self.zone)
        while True:
            wall = self.next_wall(start)
            if wall is None:
                return None
            instant = wall_to_instant(wall, self.zone)
            # Several wall times can share one instant (a DST gap); skip the spent ones.
            if instant > after:
                return instant
            start = wall + _ONE_SECOND

    def next_wall(self, start: datetime) -> datetime | None:
        """The first matching naive wall time at or after `start`."""
        for year in _from(self.fields.years, start.year):
            first_month = start.month if year == start.year else 1
            for month in _from(self.fields.months, first_month):
                found = self._first_in_month(year, month, start)
                if found is not None:
                    return found
        return None

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """The days of a month that match, cached."""
        key = (year, month)
        days = self._day_cache.get(key)
        if days is None:
            days = self._day_cache[key] = self.fields.days.days_in(year, month)
        return days

    def _first_in_month(self, year: int, month: int, start: datetime) -> datetime | None:
        in_start_month = (year, month) == (start.year, start.month)
        first_day = start.day if in_start_month else 1
        for day in _from(self.days_in(year, month), first_day):
            floor = start.time() if in_start_month and day == start.day else time.min
            found = _first_time(self.fields, floor)
            if found is not None:
                return datetime(year, month, day, *found)  # noqa: DTZ001 -- a naive wall time on purpose; the zone is applied in wall_to_instant
        return None


def _first_time(fields: CalendarFields, floor: time) -> tuple[int, int, int] | None:
    """The first matching (hour, minute, second) at or after `floor` in one day."""
    for hour in _from(fields.hours, floor.hour):
        if hour > floor.hour:
            return hour, fields.minutes[0], fields.seconds[0]
        for minute in _from(fields.minutes, floor.minute):
            if minute > floor.minute:
                return hour, minute, fields.seconds[0]
            index = bisect_left(fields.seconds, floor.second)
            if index < len(fields.seconds):
                return hour, minute, fields.seconds[index]
    return None


def _from(values: tuple[int, ...], lowest: int) -> tuple[int, ...]:
    """The sorted `values` that are >= `lowest`."""
    return values[bisect_left(values, lowest) :]
