"""@every anchoring and human-readable descriptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from conveyor.cron import describe_cron, parse_cron

ANCHOR = datetime(2026, 5, 1, 12, 0, 7, tzinfo=UTC)


def test_every_fires_at_anchor_plus_whole_intervals() -> None:
    schedule = parse_cron("@every 1h30m10s", anchor=ANCHOR)
    step = timedelta(hours=1, minutes=30, seconds=10)
    assert schedule.next_n(ANCHOR, 3) == [ANCHOR + step, ANCHOR + 2 * step, ANCHOR + 3 * step]


def test_every_never_fires_at_the_anchor_itself() -> None:
    schedule = parse_cron("@every 1m", anchor=ANCHOR)
    assert schedule.next_after(ANCHOR - timedelta(days=1)) == ANCHOR + timedelta(minutes=1)


def test_every_is_the_same_from_any_replica_start() -> None:
    """Whatever `after` a replica starts from, instants stay on the anchor's grid."""
    schedule = parse_cron("@every 45s", anchor=ANCHOR)
    after = ANCHOR + timedelta(hours=5, seconds=13, microseconds=5)
    fire = schedule.next_after(after)
    assert fire is not None
    assert fire > after
    assert fire - after <= timedelta(seconds=45)
    assert (fire - ANCHOR) % timedelta(seconds=45) == timedelta(0)


def test_every_strictly_after_a_fire_instant() -> None:
    schedule = parse_cron("@every 2h", anchor=ANCHOR)
    assert schedule.next_after(ANCHOR + timedelta(hours=2)) == ANCHOR + timedelta(hours=4)


def test_every_accepts_units_in_any_order_and_zone_anchor() -> None:
    anchor = datetime(2026, 5, 1, 16, tzinfo=timezone(timedelta(hours=2)))
    schedule = parse_cron("@every 10s1m", anchor=anchor)
    assert schedule.next_after(anchor) == datetime(2026, 5, 1, 14, 1, 10, tzinfo=UTC)


def test_every_without_anchor_is_aligned_to_the_epoch() -> None:
    schedule = parse_cron("@every 1h")
    assert schedule.next_after(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)) == datetime(
        2026, 1, 1, 1, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "description"),
    [
        ("0 0 12 ? * MON-FRI", "At 12:00, Monday through Friday"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("0 0 * * 1", "At 00:00, only on Monday"),
        ("0 0 0 ? * 5L", "At 00:00, on the last Friday of the month"),
        ("0 0 0 ? * FRI#3", "At 00:00, on the third Friday of the month"),
        ("0 0 0 L-3 * ?", "At 00:00, 3 days before the last day of the month"),
        ("0 0 0 15W * ?", "At 00:00, on the weekday nearest day 15 of the month"),
        ("0 0 12 ? * MON-FRI 2027", "At 12:00, Monday through Friday, only in 2027"),
        ("@weekly", "At 00:00, only on Sunday"),
        ("@every 1h30m10s", "Every 1 hour, 30 minutes and 10 seconds"),
        ("@every 2m", "Every 2 minutes"),
        ("CRON_TZ=Europe/Berlin 0 12 * * *", "At 12:00 (Europe/Berlin time)"),
    ],
)
def test_describe_cron_reads_naturally(expression: str, description: str) -> None:
    assert describe_cron(expression) == description


def test_schedule_repr_names_expression_and_zone() -> None:
    assert repr(parse_cron("@daily", "Europe/Berlin")) == (
        "CronSchedule('@daily', timezone='Europe/Berlin')"
    )
