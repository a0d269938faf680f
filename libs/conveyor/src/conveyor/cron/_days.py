"""Day selection: the day-of-month and day-of-week fields and how they combine.

Weekdays are numbered the crontab way throughout: 0 (or 7) = Sunday, 1 = Monday,
6 = Saturday. Days are computed per month from two facts only, the month's
length and the weekday of its first day, so the result is cheap and cacheable.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass

from conveyor.cron._errors import CronError
from conveyor.cron._fields import DAY_OF_MONTH, DAY_OF_WEEK, expand_item, parse_number

_SATURDAY = 6
_SUNDAY = 0


@dataclass(frozen=True, slots=True)
class DomRule:
    """What the day-of-month field selects: plain days, `L`, `L-n`, `nW`, `LW`."""

    days: frozenset[int]
    last_offsets: frozenset[int]
    nearest_weekday: frozenset[int]
    last_weekday: bool

    def days_in(self, length: int, first_weekday: int) -> set[int]:
        """The days this rule selects in a month of `length` days."""
        chosen = {day for day in self.days if day <= length}
        chosen.update(length - offset for offset in self.last_offsets if offset < length)
        for day in self.nearest_weekday:
            nearest = _nearest_weekday(day, length, first_weekday)
            if nearest is not None:
                chosen.add(nearest)
        if self.last_weekday:
            nearest = _nearest_weekday(length, length, first_weekday)
            if nearest is not None:
                chosen.add(nearest)
        return chosen


@dataclass(frozen=True, slots=True)
class DowRule:
    """What the day-of-week field selects: weekdays, `n#k` and `nL`."""

    weekdays: frozenset[int]
    nth: frozenset[tuple[int, int]]
    last: frozenset[int]

    def days_in(self, length: int, first_weekday: int) -> set[int]:
        """The days this rule selects in a month of `length` days."""
        chosen: set[int] = set()
        for weekday in self.weekdays:
            chosen.update(range(_first_day_on(weekday, first_weekday), length + 1, 7))
        for weekday, nth in self.nth:
            day = _first_day_on(weekday, first_weekday) + 7 * (nth - 1)
            if day <= length:
                chosen.add(day)
        for weekday in self.last:
            first = _first_day_on(weekday, first_weekday)
            chosen.add(first + 7 * ((length - first) // 7))
        return chosen


@dataclass(frozen=True, slots=True)
class DayRule:
    """The two day fields combined; `None` means the field does not restrict."""

    dom: DomRule | None
    dow: DowRule | None
    either: bool

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """The sorted days of `year`-`month` on which the schedule may fire."""
        first_weekday, length = calendar.monthrange(year, month)
        # calendar counts Monday as 0; cron counts Sunday as 0.
        first_weekday = (first_weekday + 1) % 7
        dom = None if self.dom is None else self.dom.days_in(length, first_weekday)
        dow = None if self.dow is None else self.dow.days_in(length, first_weekday)
        if dom is None and dow is None:
            return tuple(range(1, length + 1))
        if dom is None:
            return tuple(sorted(dow or ()))
        if dow is None:
            return tuple(sorted(dom))
        return tuple(sorted(dom | dow if self.either else dom & dow))


def parse_days(dom_text: str, dow_text: str) -> DayRule:
    """Parse both day fields and decide how they combine.

    As in Vixie cron, a day-of-month and a day-of-week that both restrict are
    ORed, unless either field starts with `*` (then they are ANDed); `?` marks
    a field as "no restriction".
    """
    if dom_text == "?" and dow_text == "?":
        raise CronError(DAY_OF_WEEK.label, "'?' may be used in only one of the two day fields")
    dom = None if dom_text in {"*", "?"} else _parse_dom(dom_text)
    dow = None if dow_text in {"*", "?"} else _parse_dow(dow_text)
    starred = dom_text.startswith("*") or dow_text.startswith("*")
    return DayRule(dom, dow, either=not starred and "?" not in {dom_text, dow_text})


def _parse_dom(text: str) -> DomRule:
    days: set[int] = set()
    last_offsets: set[int] = set()
    nearest: set[int] = set()
    last_weekday = False
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            last_offsets.add(0)
        elif upper == "LW":
            last_weekday = True
        elif upper.startswith("L-"):
            last_offsets.add(_parse_last_offset(upper[2:]))
        elif upper.endswith("W") and len(upper) > 1:
            nearest.add(parse_number(item[:-1], DAY_OF_MONTH))
        else:
            days.update(expand_item(item, DAY_OF_MONTH))
    return DomRule(frozenset(days), frozenset(last_offsets), frozenset(nearest), last_weekday)


def _parse_last_offset(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 30:
        raise CronError(DAY_OF_MONTH.label, f"'L-{text}' needs an offset between 1 and 30")
    return int(text)


def _parse_dow(text: str) -> DowRule:
    weekdays: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            # Quartz reads a bare L as Saturday (its 7); with Sunday = 7 here that would mislead.
            raise CronError(
                DAY_OF_WEEK.label, "a bare 'L' is ambiguous; write SAT, or 5L (last Friday)"
            )
        if "#" in upper:
            nth.add(_parse_nth(item))
        elif upper.endswith("L"):
            last.add(_weekday(item[:-1]))
        else:
            weekdays.update(value % 7 for value in expand_item(item, DAY_OF_WEEK))
    return DowRule(frozenset(weekdays), frozenset(nth), frozenset(last))


def _parse_nth(item: str) -> tuple[int, int]:
    weekday_text, _, nth_text = item.partition("#")
    if not (nth_text.isascii() and nth_text.isdigit()) or not 1 <= int(nth_text) <= 5:
        raise CronError(DAY_OF_WEEK.label, f"{item!r}: the number after '#' must be 1-5")
    return _weekday(weekday_text), int(nth_text)


def _weekday(text: str) -> int:
    return parse_number(text, DAY_OF_WEEK) % 7


def _first_day_on(weekday: int, first_weekday: int) -> int:
    """The first day of the month that falls on `weekday`."""
    return 1 + (weekday - first_weekday) % 7


def _nearest_weekday(day: int, length: int, first_weekday: int) -> int | None:
    """Quartz's `W`: the weekday nearest `day` without leaving the month."""
    if day > length:
        return None
    weekday = (first_weekday + day - 1) % 7
    if weekday == _SATURDAY:
        return day - 1 if day > 1 else day + 2
    if weekday == _SUNDAY:
        return day + 1 if day < length else day - 2
    return day
