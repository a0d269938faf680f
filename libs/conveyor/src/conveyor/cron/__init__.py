"""Cron expressions: parsing, validation, next fire times and descriptions.

Syntax
    5 fields (minute hour day-of-month month day-of-week, crontab), 6 fields
    (seconds first, as Quartz/Spring/robfig) or 7 fields (seconds first, year
    last, 1970-2099). `*`, lists, ranges, steps (`0/15`, `*/5`, `10-40/10`),
    JAN-DEC and SUN-SAT (case-insensitive), `?` in one day field, `L`, `L-3`,
    `15W`, `LW` in day-of-month, `5L`, `FRI#3` in day-of-week. In the year
    field `*/2` steps from 1970, as in Quartz. Descriptors `@yearly`,
    `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` and
    `@every 1h30m10s` (units h, m, s).

Weekday numbers
    0 and 7 are Sunday, 1 is Monday, 6 is Saturday in every mode, including
    6 and 7 fields. Quartz users beware: Quartz numbers 1 = Sunday.

Day-of-month and day-of-week together
    As in Vixie cron: when both restrict, a day matches if EITHER matches
    (`0 0 1 * MON` = the 1st and every Monday). If either field starts with
    `*` (e.g. `*/2`) the two are ANDed; `?` means "no restriction". Quartz
    forbids restricting both; here it is ORed in every mode for consistency.

Time zones and DST
    Fields are local wall-clock times in the schedule's IANA zone; a
    `CRON_TZ=Zone ` or `TZ=Zone ` prefix overrides the zone argument. A wall
    time inside a spring-forward gap fires once at the first instant after
    the gap (02:30 on 2026-03-08 New York fires at 03:00 EDT = 07:00 UTC).
    A wall time in a repeated hour fires once, at its first occurrence: each
    wall time is matched once, so `*/15 * * * *` fires at 01:00-01:45 EDT and
    then not again until 02:00 EST. `@every` follows absolute time from its
    anchor (the schedule's creation instant) and ignores zones.

Bounds
    Expressions that can never fire (30 February, `0 0 0 31 4 ?`) are rejected
    at parse time; the search is bounded by the year 2099, after which
    `next_after` returns None.
"""

from conveyor.cron._describe import describe_cron
from conveyor.cron._errors import CronError
from conveyor.cron._schedule import CronSchedule, parse_cron

__all__ = ["CronError", "CronSchedule", "describe_cron", "parse_cron"]
