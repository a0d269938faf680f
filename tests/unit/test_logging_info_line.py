"""InfoLine: the audit line's fast path writes what structlog's JSON chain writes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, use_span
from structlog.testing import capture_logs

from conveyor.logging import InfoLine, _timestamp, configure_logging
from conveyor.settings import LogSettings

KEYS = ("request_id", "subject", "action", "status", "latency_ms", "extra")
STAMP = re.compile(r'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?Z)"')
VALUES = [
    ("a" * 32, None, "task.create", 202, 0.125, True),
    ("req-42", 'sub "quoted"\n\u00e9\u2028\U0001f600', "GET /api/v1/tasks", 401, 12.0, None),
    ("r", "", "", -1, 1e-07, {"nested": [1, 2.5, "x"]}),
    ("r", "s", "a", 10**20, float("nan"), ["list"]),
]


@pytest.fixture
def json_logging() -> Iterator[None]:
    # configure_logging binds sys.stderr, which capsys replaces only inside the test.
    yield
    structlog.reset_defaults()


def _chain_and_fast(capsys: pytest.CaptureFixture[str], values: tuple[object, ...]) -> list[str]:
    configure_logging(LogSettings(format="json", level="INFO"))
    log = structlog.get_logger("test.info_line")
    log.info("request_handled", **dict(zip(KEYS, values, strict=True)))
    InfoLine(log, "request_handled", KEYS)(*values)
    lines = capsys.readouterr().err.removesuffix("\n").split("\n")
    assert len(lines) == 2
    for line in lines:
        assert STAMP.search(line) is not None, line
    return [STAMP.sub('"timestamp":"T"', line) for line in lines]


@pytest.mark.usefixtures("json_logging")
@pytest.mark.parametrize("values", VALUES)
def test_fast_line_is_byte_identical_to_the_structlog_chain(
    capsys: pytest.CaptureFixture[str], values: tuple[object, ...]
) -> None:
    chain, fast = _chain_and_fast(capsys, values)
    assert fast == chain


@pytest.mark.usefixtures("json_logging")
def test_fast_line_carries_the_current_span_like_the_chain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = SpanContext(0x1234ABCD, 0xBEEF, is_remote=False, trace_flags=TraceFlags(1))
    with use_span(NonRecordingSpan(context)):
        chain, fast = _chain_and_fast(capsys, VALUES[0])
    assert '"trace_id":"000000000000000000000000' in chain
    assert fast == chain


@pytest.mark.usefixtures("json_logging")
def test_bound_contextvars_are_merged_as_the_chain_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    structlog.contextvars.bind_contextvars(task_id="t-1")
    try:
        chain, fast = _chain_and_fast(capsys, VALUES[1])
    finally:
        structlog.contextvars.clear_contextvars()
    assert '"task_id":"t-1"' in chain
    assert fast == chain


@pytest.mark.usefixtures("json_logging")
def test_capture_logs_still_sees_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSettings(format="json", level="INFO"))
    log = structlog.get_logger("test.info_line")
    with capture_logs() as logs:
        InfoLine(log, "request_handled", ("status",))(202)
    assert logs == [{"event": "request_handled", "status": 202, "log_level": "info"}]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "ns", [0, 1_700_000_000_000_000_999, 1_700_000_000_123_456_789, 1_799_999_999_999_999_999]
)
def test_timestamp_is_formatted_as_the_time_stamper_does(ns: int) -> None:
    expected = datetime.fromtimestamp(ns // 10**9, tz=UTC) + timedelta(
        microseconds=ns // 1000 % 10**6
    )
    stamp = _timestamp(ns)
    assert stamp == expected.isoformat().replace("+00:00", "Z")


@pytest.mark.usefixtures("json_logging")
def test_percent_signs_in_keys_and_event_are_text(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSettings(format="json", level="INFO"))
    log = structlog.get_logger("test.info_line")
    keys = ("ratio_%", "%s")
    log.info("done_%d", **dict(zip(keys, ("a%sb", 1), strict=True)))
    InfoLine(log, "done_%d", keys)("a%sb", 1)
    chain, fast = (STAMP.sub("T", line) for line in capsys.readouterr().err.splitlines())
    assert fast == chain


def test_a_line_given_the_wrong_number_of_values_is_refused_at_the_call() -> None:
    with pytest.raises(ValueError, match="takes 2 values, got 1"):
        InfoLine(structlog.get_logger("t"), "e", ("a", "b"))(1)
