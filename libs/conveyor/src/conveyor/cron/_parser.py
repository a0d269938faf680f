"""From expression text to a rule: prefixes, descriptors, field counts, validation."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from conveyor.cron._days import parse_days
from conveyor.cron._errors import CronError
from conveyor.cron._every import IntervalRule, parse_duration
from conveyor.cron._fields import (
    HOUR,
    MINUTE,
    MONTH,
    MONTH_NAMES,
    SECOND,
    YEAR,
    parse_values,
)
from conveyor.cron._next import CalendarFields, CalendarRule

# Descriptors in the 6-field (seconds first) form.
DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_ZONE_PREFIXES = ("CRON_TZ=", "TZ=")
_NEVER_FIRES = "expression can never fire"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALL_YEARS = tuple(range(YEAR.low, YEAR.high + 1))
_MONTH_BY_NUMBER = {number: name for name, number in MONTH_NAMES.items()}


@dataclass(frozen=True, slots=True)
class SplitExpression:
    """An expression with its optional zone prefix taken off."""

    zone: str | None
    body: str


def split_zone_prefix(expression: str) -> SplitExpression:
    """Take a leading `CRON_TZ=Zone` or `TZ=Zone` off the expression."""
    text = expression.strip()
    for prefix in _ZONE_PREFIXES:
        if text.startswith(prefix):
            zone, _, body = text[len(prefix) :].partition(" ")
            if not zone:
                raise CronError("timezone", f"the {prefix} prefix names no zone")
            return SplitExpression(zone, body.strip())
    return SplitExpression(None, text)


def build_rule(body: str, zone: ZoneInfo, anchor: datetime | None) -> CalendarRule | IntervalRule:
    """Parse the expression body (no zone prefix) into a rule."""
    if not body:
        raise CronError("expression", "is empty")
    if body.startswith("@every"):
        return _interval_rule(body, anchor)
    if body.startswith("@"):
        fields_text = DESCRIPTORS.get(body.lower())
        if fields_text is None:
            names = ", ".join([*DESCRIPTORS, "@every <duration>"])
            raise CronError("expression", f"unknown descriptor {body!r}; supported: {names}")
        body = fields_text
    rule = CalendarRule(parse_fields(body), zone)
    _check_can_fire(rule)
    return rule


def parse_fields(body: str) -> CalendarFields:
    """Parse 5 (crontab), 6 (seconds first) or 7 (seconds first, year last) fields."""
    parts = body.split()
    if len(parts) == 5:
        parts = ["0", *parts, "*"]
    elif len(parts) == 6:
        parts = [*parts, "*"]
    elif len(parts) != 7:
        raise CronError("expression", f"expected 5, 6 or 7 fields, got {len(parts)} in {body!r}")
    second, minute, hour, dom, month, dow, year = parts
    return CalendarFields(
        seconds=parse_values(second, SECOND),
        minutes=parse_values(minute, MINUTE),
        hours=parse_values(hour, HOUR),
        days=parse_days(dom, dow),
        months=parse_values(month, MONTH),
        years=parse_values(year, YEAR),
    )


def _interval_rule(body: str, anchor: datetime | None) -> IntervalRule:
    keyword, _, duration = body.partition(" ")
    if keyword != "@every":
        raise CronError("expression", f"unknown descriptor {keyword!r}")
    if anchor is None:
        # Without a stored creation instant, align to the epoch: still deterministic.
        anchor = _EPOCH
    elif anchor.tzinfo is None:
        raise CronError("anchor", "must be a timezone-aware datetime")
    return IntervalRule(anchor.astimezone(UTC), parse_duration(duration.strip()))


def _check_can_fire(rule: CalendarRule) -> None:
    """Reject expressions whose day, month and year fields never coincide."""
    fields = rule.fields
    for year in fields.years:
        for month in fields.months:
            if rule.days_in(year, month):
                return
    raise CronError(_NEVER_FIRES, _why_never(fields))


def _why_never(fields: CalendarFields) -> str:
    """Name the culprit, for the common case of a day of month the months lack."""
    years = "" if fields.years == _ALL_YEARS else f" of year(s) {_span(fields.years)}"
    dom = fields.days.dom
    dom_decides = fields.days.dow is None or not fields.days.either
    if dom is not None and dom_decides and (dom.days or dom.nearest_weekday):
        lowest = min(dom.days | dom.nearest_weekday)
        longest = max(
            monthrange(year, month)[1] for year in fields.years for month in fields.months
        )
        if lowest > longest:
            names = ", ".join(_MONTH_BY_NUMBER[month] for month in fields.months)
            plural = "s" if len(fields.months) > 1 else ""
            return f"day-of-month {lowest} never occurs in month{plural} {names}{years}"
    return f"no date{years} matches the day-of-month, day-of-week and month fields"


def _span(years: tuple[int, ...]) -> str:
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
