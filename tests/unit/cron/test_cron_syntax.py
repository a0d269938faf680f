"""Table-driven next-fire tests for every syntax feature, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from conveyor.cron import parse_cron


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


START = utc(2026, 1, 1)  # a Thursday

CASES: list[tuple[str, datetime, list[datetime]]] = [
    # Steps, ranges and lists.
    ("*/5 * * * *", START, [utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 10)]),
    ("0/15 * * * * *", START, [utc(2026, 1, 1, 0, 0, 15), utc(2026, 1, 1, 0, 0, 30)]),
    (
        "10-40/10 * * * *",
        START,
        [utc(2026, 1, 1, 0, m) for m in (10, 20, 30, 40)] + [utc(2026, 1, 1, 1, 10)],
    ),
    ("5/20 * * * *", START, [utc(2026, 1, 1, 0, m) for m in (5, 25, 45)] + [utc(2026, 1, 1, 1, 5)]),
    ("0 0 1 JAN,jul *", START, [utc(2026, 7, 1), utc(2027, 1, 1)]),
    ("0 9 * * MON-FRI", START, [utc(2026, 1, 1, 9), utc(2026, 1, 2, 9), utc(2026, 1, 5, 9)]),
    ("0 0 12 ? * MON-FRI", START, [utc(2026, 1, 1, 12), utc(2026, 1, 2, 12), utc(2026, 1, 5, 12)]),
    ("30 15 10 * * ? 2026", START, [utc(2026, 1, 1, 10, 15, 30), utc(2026, 1, 2, 10, 15, 30)]),
    # Weekday numbering: 0 and 7 are Sunday, 1 is Monday, in every field count.
    ("0 0 * * 0", START, [utc(2026, 1, 4), utc(2026, 1, 11)]),
    ("0 0 * * 7", START, [utc(2026, 1, 4), utc(2026, 1, 11)]),
    ("0 0 * * sun", START, [utc(2026, 1, 4), utc(2026, 1, 11)]),
    ("0 0 * * 1", START, [utc(2026, 1, 5), utc(2026, 1, 12)]),
    ("0 0 0 ? * 1", START, [utc(2026, 1, 5), utc(2026, 1, 12)]),
    ("0 0 0 ? * 1 *", START, [utc(2026, 1, 5), utc(2026, 1, 12)]),
    (
        "0 0 * * FRI-SUN",
        START,
        [utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 4), utc(2026, 1, 9)],
    ),
    ("0 0 * * */2", START, [utc(2026, 1, 3), utc(2026, 1, 4), utc(2026, 1, 6), utc(2026, 1, 8)]),
    ("0 0 * jan-Mar Sun", START, [utc(2026, 1, 4), utc(2026, 1, 11)]),
    # L, L-n, W, LW in day-of-month.
    ("0 0 L * *", START, [utc(2026, 1, 31), utc(2026, 2, 28), utc(2026, 3, 31)]),
    ("0 0 L-3 * *", START, [utc(2026, 1, 28), utc(2026, 2, 25), utc(2026, 3, 28)]),
    ("0 0 15W * *", START, [utc(2026, 1, 15), utc(2026, 2, 16), utc(2026, 3, 16)]),
    ("0 0 15W 8 *", START, [utc(2026, 8, 14), utc(2027, 8, 16)]),  # Sat -> Fri, Sun -> Mon
    ("0 0 1W 8 *", START, [utc(2026, 8, 3), utc(2027, 8, 2)]),  # never back into July
    ("0 0 31W 5 *", START, [utc(2026, 5, 29), utc(2027, 5, 31)]),  # never forward into June
    ("0 0 LW * *", START, [utc(2026, 1, 30), utc(2026, 2, 27), utc(2026, 3, 31)]),
    # n#k and nL in day-of-week.
    ("0 0 * * 5#3", START, [utc(2026, 1, 16), utc(2026, 2, 20), utc(2026, 3, 20)]),
    ("0 0 0 ? * FRI#3", START, [utc(2026, 1, 16), utc(2026, 2, 20), utc(2026, 3, 20)]),
    ("0 0 * * 5L", START, [utc(2026, 1, 30), utc(2026, 2, 27), utc(2026, 3, 27)]),
    ("0 0 0 ? * FRIL", START, [utc(2026, 1, 30), utc(2026, 2, 27), utc(2026, 3, 27)]),
    ("0 0 0 ? 2 MON#5", START, [utc(2044, 2, 29), utc(2072, 2, 29)]),
    # Both day fields restricted: OR (Vixie cron); a leading * makes it AND.
    (
        "0 0 1 * MON",
        START,
        [utc(2026, 1, d) for d in (5, 12, 19, 26)] + [utc(2026, 2, 1), utc(2026, 2, 2)],
    ),
    ("0 0 */2 * MON", START, [utc(2026, 1, 5), utc(2026, 1, 19), utc(2026, 2, 9)]),
    ("0 0 13 * ?", START, [utc(2026, 1, 13), utc(2026, 2, 13)]),
    # Years: ranges, and steps counted from 1970 as in Quartz.
    ("0 0 0 1 1 ? 2027-2029", START, [utc(2027, 1, 1), utc(2028, 1, 1), utc(2029, 1, 1)]),
    ("0 0 0 1 1 ? */2", START, [utc(2028, 1, 1), utc(2030, 1, 1)]),
    ("0 0 0 1 1 ? 2027/3", START, [utc(2027, 1, 1), utc(2030, 1, 1), utc(2033, 1, 1)]),
    # Leap years and L in February.
    ("0 0 29 2 *", START, [utc(2028, 2, 29), utc(2032, 2, 29)]),
    ("0 0 L 2 *", START, [utc(2026, 2, 28), utc(2027, 2, 28), utc(2028, 2, 29)]),
    ("0 0 0 L 2 ? */2", START, [utc(2026, 2, 28), utc(2028, 2, 29), utc(2030, 2, 28)]),
    # Descriptors.
    ("@yearly", START, [utc(2027, 1, 1), utc(2028, 1, 1)]),
    ("@annually", START, [utc(2027, 1, 1)]),
    ("@monthly", START, [utc(2026, 2, 1), utc(2026, 3, 1)]),
    ("@weekly", START, [utc(2026, 1, 4), utc(2026, 1, 11)]),
    ("@daily", START, [utc(2026, 1, 2), utc(2026, 1, 3)]),
    ("@midnight", START, [utc(2026, 1, 2)]),
    ("@HOURLY", START, [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)]),
]


@pytest.mark.parametrize(("expression", "after", "expected"), CASES)
def test_next_fire_times_match_the_table(
    expression: str, after: datetime, expected: list[datetime]
) -> None:
    assert parse_cron(expression).next_n(after, len(expected)) == expected


def test_next_after_is_strictly_later_than_a_fire_time() -> None:
    assert parse_cron("0 0 * * *").next_after(utc(2026, 1, 1)) == utc(2026, 1, 2)


def test_next_after_rounds_sub_second_starts_up() -> None:
    after = utc(2026, 1, 1).replace(microsecond=500_000)
    assert parse_cron("* * * * * *").next_after(after) == utc(2026, 1, 1, 0, 0, 1)


def test_results_are_aware_utc_for_non_utc_input() -> None:
    after = datetime(2026, 1, 1, 9, tzinfo=ZoneInfo("Asia/Tokyo"))  # 00:00 UTC
    result = parse_cron("0 1 * * *").next_after(after)
    assert result == utc(2026, 1, 1, 1)
    assert result is not None
    assert result.tzinfo is UTC


def test_year_range_ends_the_schedule() -> None:
    schedule = parse_cron("0 0 0 1 1 ? 2027-2029")
    assert schedule.next_n(START, 10) == [utc(2027, 1, 1), utc(2028, 1, 1), utc(2029, 1, 1)]
    assert schedule.next_after(utc(2029, 1, 1)) is None


def test_search_stops_at_2099() -> None:
    assert parse_cron("0 0 29 2 *").next_after(utc(2096, 3, 1)) is None
    assert parse_cron("* * * * *").next_after(utc(2100, 1, 1)) is None


def test_next_n_of_zero_is_empty() -> None:
    assert parse_cron("* * * * *").next_n(START, 0) == []
