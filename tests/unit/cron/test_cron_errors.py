"""Invalid and impossible expressions are rejected at parse time with clear messages."""

from __future__ import annotations

from datetime import datetime

import pytest

from conveyor.cron import CronError, parse_cron

SYNTAX_ERRORS = [
    ("61 * * * *", "minute field: 61 is out of range 0-59"),
    ("* 24 * * *", "hour field: 24 is out of range 0-23"),
    ("0 0 32 * *", "day-of-month field: 32 is out of range 1-31"),
    ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
    ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
    ("60 0 0 * * *", "second field: 60 is out of range 0-59"),
    ("0 0 0 1 1 ? 1969", "year field: 1969 is out of range 1970-2099"),
    ("0 0 0 1 1 ? 2100", "year field: 2100 is out of range 1970-2099"),
    ("0 0 * * FOO", "day-of-week field: 'FOO' is not a number or name"),
    ("0 0 * JANUARY *", "month field: 'JANUARY' is not a number or name"),
    ("x * * * *", "minute field: 'x' is not a number"),
    ("*/0 * * * *", "minute field: step '0' must be a positive number"),
    ("30-10 * * * *", "minute field: range '30-10' runs backwards (30 > 10)"),
    ("1,,2 * * * *", "minute field: empty element in list"),
    ("* * * *", "expression: expected 5, 6 or 7 fields, got 4"),
    ("0 0 0 * * * * *", "expression: expected 5, 6 or 7 fields, got 8"),
    ("   ", "expression: is empty"),
    ("0 0 ? * ?", "'?' may be used in only one of the two day fields"),
    ("0 0 * * L", "day-of-week field: a bare 'L' is ambiguous"),
    ("0 0 * * 5#6", "day-of-week field: '5#6': the number after '#' must be 1-5"),
    ("0 0 L-31 * *", "day-of-month field: 'L-31' needs an offset between 1 and 30"),
    ("0 0 32W * *", "day-of-month field: 32 is out of range 1-31"),
    ("@reboot", "expression: unknown descriptor '@reboot'"),
    ("@every", "@every: '' is not a duration like 1h30m10s"),
    ("@every 10ms", "@every: '10ms' is not a duration"),
    ("@every 0s", "@every: duration '0s' must be at least 1s"),
    ("@everyday", "expression: unknown descriptor '@everyday'"),
    ("CRON_TZ=Mars/Olympus 0 0 * * *", "timezone: 'Mars/Olympus' is not a known IANA zone"),
    ("TZ= 0 0 * * *", "timezone: the TZ= prefix names no zone"),
]

IMPOSSIBLE = [
    ("0 0 30 2 *", "expression can never fire: day-of-month 30 never occurs in month FEB"),
    ("0 0 0 31 4 ?", "expression can never fire: day-of-month 31 never occurs in month APR"),
    ("0 0 31 APR,JUN,SEP,NOV *", "day-of-month 31 never occurs in months APR, JUN, SEP, NOV"),
    ("0 0 0 30W 2 ?", "day-of-month 30 never occurs in month FEB"),
    ("0 0 0 29 2 ? 2027", "day-of-month 29 never occurs in month FEB of year(s) 2027"),
    ("0 0 0 ? 2 MON#5 2026-2040", "no date of year(s) 2026-2040 matches the day-of-month"),
]


@pytest.mark.parametrize(("expression", "message"), SYNTAX_ERRORS + IMPOSSIBLE)
def test_bad_expression_is_rejected_with_a_message_naming_the_culprit(
    expression: str, message: str
) -> None:
    with pytest.raises(CronError) as caught:
        parse_cron(expression)
    assert message in str(caught.value)


def test_cron_error_is_a_value_error_with_structured_parts() -> None:
    with pytest.raises(ValueError, match="out of range") as caught:
        parse_cron("0 25 * * *")
    assert isinstance(caught.value, CronError)
    assert caught.value.subject == "hour field"
    assert caught.value.problem == "25 is out of range 0-23"


def test_unknown_timezone_argument_is_rejected() -> None:
    with pytest.raises(CronError, match="'Nowhere/Land' is not a known IANA zone"):
        parse_cron("0 0 * * *", timezone="Nowhere/Land")


@pytest.mark.parametrize(
    "expression", ["0 0 29 2 MON", "0 0 31 2 MON", "0 0 0 ? 2 MON#5", "0 0 29 2 *"]
)
def test_sparse_but_possible_expressions_are_accepted(expression: str) -> None:
    parse_cron(expression)


def test_naive_after_is_rejected() -> None:
    with pytest.raises(CronError, match="after: must be a timezone-aware datetime"):
        parse_cron("* * * * *").next_after(datetime(2026, 1, 1))  # noqa: DTZ001 -- the naive input is the point


def test_naive_anchor_is_rejected() -> None:
    with pytest.raises(CronError, match="anchor: must be a timezone-aware datetime"):
        parse_cron("@every 1m", anchor=datetime(2026, 1, 1))  # noqa: DTZ001 -- the naive input is the point
