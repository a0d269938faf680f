"""Human-readable descriptions of cron expressions."""

from __future__ import annotations

from datetime import timedelta

from cron_descriptor import Options, get_description

from conveyor.cron._every import parse_duration
from conveyor.cron._parser import DESCRIPTORS, split_zone_prefix
from conveyor.cron._schedule import parse_cron


def describe_cron(expression: str) -> str:
    """Describe an expression in English, e.g. "At 12:00, Monday through Friday".

    The expression is validated first (CronError if invalid). Weekday numbers
    are read the crontab way (0 and 7 = Sunday, 1 = Monday).
    """
    parse_cron(expression)
    split = split_zone_prefix(expression)
    body = split.body
    if body.startswith("@every"):
        text = _describe_interval(parse_duration(body.partition(" ")[2].strip()))
    else:
        text = _describe_fields(DESCRIPTORS.get(body.lower(), body))
    return text if split.zone is None else f"{text} ({split.zone} time)"


def _describe_fields(fields: str) -> str:
    # Explicit locale: the autodetected one varies by host and warns when unset.
    options = Options(
        day_of_week_start_index_zero=True, use_24hour_time_format=True, locale_code="en_US"
    )
    try:
        return str(get_description(fields, options))
    except Exception:  # the describer is best effort; the expression already parsed
        return f"Cron schedule {fields!r}"


def _describe_interval(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    parts = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count > 1 else ''}")
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Every {joined}"
