"""Expansion of the plain numeric fields (values, names, ranges and steps).

Every field goes through here; the day fields add their own special tokens
(`L`, `W`, `#`, `?`) on top in `_days`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from conveyor.cron._errors import CronError

MONTH_NAMES: Mapping[str, int] = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
# Sunday is 0 (and 7): the crontab/Spring numbering, deliberately not Quartz's 1 = Sunday.
WEEKDAY_NAMES: Mapping[str, int] = {
    name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """The name, bounds and symbolic names of one cron field."""

    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)
    # In day-of-week a range may end on Sunday written as 0/SUN (`FRI-SUN`).
    zero_ends_at_high: bool = False

    @property
    def label(self) -> str:
        """How error messages name this field, e.g. "minute field"."""
        return f"{self.name} field"


SECOND = FieldSpec("second", 0, 59)
MINUTE = FieldSpec("minute", 0, 59)
HOUR = FieldSpec("hour", 0, 23)
DAY_OF_MONTH = FieldSpec("day-of-month", 1, 31)
MONTH = FieldSpec("month", 1, 12, MONTH_NAMES)
DAY_OF_WEEK = FieldSpec("day-of-week", 0, 7, WEEKDAY_NAMES, zero_ends_at_high=True)
YEAR = FieldSpec("year", 1970, 2099)


def parse_values(text: str, spec: FieldSpec) -> tuple[int, ...]:
    """Expand a comma-separated field to the sorted values it selects."""
    values: set[int] = set()
    for item in text.split(","):
        values.update(expand_item(item, spec))
    return tuple(sorted(values))


def expand_item(item: str, spec: FieldSpec) -> range:
    """Expand one list element: `*`, `N`, `A-B`, each optionally with `/STEP`."""
    if not item:
        raise CronError(spec.label, "empty element in list")
    base, slash, step_text = item.partition("/")
    step = _parse_step(step_text, spec) if slash else 1
    if base == "*":
        start, end = spec.low, spec.high
    elif "-" in base:
        start, end = _parse_range(base, spec)
    else:
        start = parse_number(base, spec)
        # Quartz and Spring read `5/15` as "from 5 to the end of the field, every 15".
        end = spec.high if slash else start
    return range(start, end + 1, step)


def parse_number(text: str, spec: FieldSpec) -> int:
    """Read one number or symbolic name and check it against the field's bounds."""
    named = spec.names.get(text.upper())
    if named is not None:
        return named
    # isascii() keeps out digits such as '²' that int() would reject or misread.
    if not (text.isascii() and text.isdigit()):
        kind = "a number or name" if spec.names else "a number"
        raise CronError(spec.label, f"{text!r} is not {kind}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise CronError(spec.label, f"{value} is out of range {spec.low}-{spec.high}")
    return value


def _parse_range(text: str, spec: FieldSpec) -> tuple[int, int]:
    start_text, _, end_text = text.partition("-")
    start = parse_number(start_text, spec)
    end = parse_number(end_text, spec)
    if spec.zero_ends_at_high and end == 0 and start > 0:
        end = spec.high
    if start > end:
        raise CronError(spec.label, f"range {text!r} runs backwards ({start} > {end})")
    return start, end


def _parse_step(text: str, spec: FieldSpec) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise CronError(spec.label, f"step {text!r} must be a positive number")
    return int(text)
