"""The public schedule object and its constructor."""

from __future__ import annotations

from datetime import UTC, datetime

from conveyor.cron._errors import CronError
from conveyor.cron._every import IntervalRule
from conveyor.cron._next import CalendarRule
from conveyor.cron._parser import build_rule, split_zone_prefix
from conveyor.cron._zones import load_zone


class CronSchedule:
    """A parsed cron expression bound to a time zone; computes UTC fire instants."""

    __slots__ = ("_expression", "_rule", "_timezone")

    def __init__(self, expression: str, timezone: str, rule: CalendarRule | IntervalRule) -> None:
        self._expression = expression
        self._timezone = timezone
        self._rule = rule

    @property
    def expression(self) -> str:
        """The expression exactly as given, zone prefix included."""
        return self._expression

    @property
    def timezone(self) -> str:
        """The IANA zone the fields are read in (the prefix's, if any)."""
        return self._timezone

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after `after`, in UTC.

        Returns None when the schedule has no further fires (its year range,
        which ends in 2099 at the latest, is over).
        """
        if after.tzinfo is None or after.utcoffset() is None:
            raise CronError("after", "must be a timezone-aware datetime")
        return self._rule.next_after(after.astimezone(UTC))

    def next_n(self, after: datetime, n: int) -> list[datetime]:
        """Up to `n` consecutive fire instants after `after` (fewer if the schedule ends)."""
        if n < 0:
            raise CronError("n", f"must not be negative, got {n}")
        instants: list[datetime] = []
        current: datetime | None = after
        while current is not None and len(instants) < n:
            current = self.next_after(current)
            if current is not None:
                instants.append(current)
        return instants

    def __repr__(self) -> str:
        return f"CronSchedule({self._expression!r}, timezone={self._timezone!r})"


def parse_cron(
    expression: str, timezone: str = "UTC", anchor: datetime | None = None
) -> CronSchedule:
    """Parse and validate a cron expression.

    A `CRON_TZ=Zone` or `TZ=Zone` prefix overrides `timezone`. `anchor` is the
    schedule's creation instant, used only by `@every` (default: the Unix epoch).
    Raises CronError for bad syntax, unknown zones and expressions that can
    never fire (e.g. 30 February).
    """
    split = split_zone_prefix(expression)
    zone_name = split.zone or timezone
    rule = build_rule(split.body, load_zone(zone_name), anchor)
    return CronSchedule(expression, zone_name, rule)
