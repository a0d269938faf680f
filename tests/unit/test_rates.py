"""Rates as GCRA parameters, and the handler options that take them."""

from __future__ import annotations

import pytest

from conveyor.errors import ConfigurationError
from conveyor.handlers import Registry
from conveyor.rates import Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("100/s", 100.0), ("6000/m", 100.0), ("36/h", 0.01), (" 2.5 / sec ", 2.5)],
)
def test_a_rate_text_reads_as_requests_per_second(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["100", "100/d", "-1/s", "0/s", "fast", ""])
def test_a_malformed_rate_says_what_it_should_look_like(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"100/s|above 0"):
        parse_rate(text)


def test_gcra_parameters_follow_rate_and_burst() -> None:
    rate = Rate(100.0, 5)
    assert (rate.interval_us, rate.tolerance_us) == (10_000, 50_000)
    with pytest.raises(ConfigurationError):
        Rate(10.0, 0)


def test_handler_options_carry_the_rate_limit_and_concurrency() -> None:
    registry = Registry()

    @registry.handler("email.send", rate_limit="100/s", burst=10, concurrency=5)
    async def send(ctx: object, payload: object) -> None: ...

    options = registry.get("email.send").options  # type: ignore[union-attr]
    assert (options.rate_limit, options.concurrency) == (Rate(100.0, 10), 5)
    with pytest.raises(ConfigurationError, match="concurrency"):
        registry.handler("t.bad", concurrency=0)
