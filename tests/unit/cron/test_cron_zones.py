"""Time zones and DST days: skipped hours fire once after the gap, repeated hours once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conveyor.cron import parse_cron

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An aware UTC datetime in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


CASES: list[tuple[str, str, datetime, list[datetime]]] = [
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC.
    (NEW_YORK, "30 2 * * *", utc(3, 8, 0), [utc(3, 8, 7), utc(3, 9, 6, 30)]),
    (NEW_YORK, "0 30 2 * * *", utc(3, 8, 0), [utc(3, 8, 7), utc(3, 9, 6, 30)]),
    (NEW_YORK, "0 2 * * *", utc(3, 7, 12), [utc(3, 8, 7), utc(3, 9, 6)]),
    (NEW_YORK, "0 3 * * *", utc(3, 7, 12), [utc(3, 8, 7), utc(3, 9, 7)]),
    # 02:00, 02:30 and 03:00 all land on 07:00 UTC: one fire, not three.
    (NEW_YORK, "*/30 * * * *", utc(3, 8, 6), [utc(3, 8, 6, 30), utc(3, 8, 7), utc(3, 8, 7, 30)]),
    # New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00 UTC.
    (NEW_YORK, "30 1 * * *", utc(10, 31, 12), [utc(11, 1, 5, 30), utc(11, 2, 6, 30)]),
    (
        NEW_YORK,
        "*/15 * * * *",
        utc(11, 1, 4, 40),
        [utc(11, 1, 4, 45)] + [utc(11, 1, 5, m) for m in (0, 15, 30, 45)] + [utc(11, 1, 7)],
    ),
    (NEW_YORK, "0 * * * *", utc(11, 1, 4, 30), [utc(11, 1, 5), utc(11, 1, 7), utc(11, 1, 8)]),
    # Starting inside the second pass of the repeated hour.
    (NEW_YORK, "*/15 * * * *", utc(11, 1, 6, 10), [utc(11, 1, 7)]),
    (NEW_YORK, "30 1 * * *", utc(11, 1, 5, 45), [utc(11, 2, 6, 30)]),
    # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
    (BERLIN, "30 2 * * *", utc(3, 28, 12), [utc(3, 29, 1), utc(3, 30, 0, 30)]),
    (BERLIN, "0 0 2 * * *", utc(3, 28, 12), [utc(3, 29, 1), utc(3, 30, 0)]),
    # Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00 UTC.
    (BERLIN, "30 2 * * *", utc(10, 24, 12), [utc(10, 25, 0, 30), utc(10, 26, 1, 30)]),
    (
        BERLIN,
        "0 */30 2 * * *",
        utc(10, 24, 23),
        [utc(10, 25, 0), utc(10, 25, 0, 30), utc(10, 26, 1)],
    ),
    (BERLIN, "@hourly", utc(10, 24, 22, 30), [utc(10, 24, 23), utc(10, 25, 0), utc(10, 25, 2)]),
    # Ordinary days: the zone's offset applies.
    (BERLIN, "0 0 12 ? * MON-FRI", utc(1, 1, 0), [utc(1, 1, 11), utc(1, 2, 11)]),
    (BERLIN, "0 0 12 ? * MON-FRI", utc(7, 1, 0), [utc(7, 1, 10), utc(7, 2, 10)]),
]


@pytest.mark.parametrize(("zone", "expression", "after", "expected"), CASES)
def test_zoned_fire_times_match_the_table(
    zone: str, expression: str, after: datetime, expected: list[datetime]
) -> None:
    assert parse_cron(expression, timezone=zone).next_n(after, len(expected)) == expected


def test_every_follows_absolute_time_through_a_repeated_hour() -> None:
    schedule = parse_cron("@every 30m", timezone=BERLIN, anchor=utc(10, 25, 0))
    assert schedule.next_n(utc(10, 25, 0), 4) == [
        utc(10, 25, 0, 30),
        utc(10, 25, 1),
        utc(10, 25, 1, 30),
        utc(10, 25, 2),
    ]


@pytest.mark.parametrize("prefix", ["CRON_TZ", "TZ"])
def test_zone_prefix_overrides_the_timezone_argument(prefix: str) -> None:
    schedule = parse_cron(f"{prefix}=Europe/Berlin 0 12 * * *", timezone=NEW_YORK)
    assert schedule.timezone == BERLIN
    assert schedule.expression == f"{prefix}=Europe/Berlin 0 12 * * *"
    assert schedule.next_after(utc(1, 1, 0)) == utc(1, 1, 11)


def test_timezone_argument_is_reported() -> None:
    schedule = parse_cron("0 9 * * *", timezone="Asia/Tokyo")
    assert schedule.timezone == "Asia/Tokyo"
    assert schedule.next_after(utc(1, 1, 1)) == utc(1, 2, 0)
