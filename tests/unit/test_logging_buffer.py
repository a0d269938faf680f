"""LineBuffer: a loop iteration's log lines are written together, in the order logged."""

from __future__ import annotations

import asyncio
import io
import json
import threading

import pytest
import structlog

from conveyor.logging import InfoLine, LineBuffer, configure_logging
from conveyor.settings import LogSettings


class _CountingStream(io.StringIO):
    """A stream that remembers each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def test_without_a_running_loop_each_line_is_written_at_once() -> None:
    stream = _CountingStream()
    buffer = LineBuffer(stream)
    buffer.write("one\n")
    buffer.flush()
    assert stream.getvalue() == "one\n"
    buffer.write("two\n")
    buffer.flush()
    assert stream.writes == ["one\n", "two\n"]


async def test_a_loop_iteration_is_written_once_when_it_ends() -> None:
    stream = _CountingStream()
    buffer = LineBuffer(stream)
    line = InfoLine(structlog.get_logger("t"), "request_handled", ("n",))
    buffer.write("first\n")
    buffer.flush()
    buffer.defer(line, (2,), (0x1234, 0xBEEF))
    buffer.write("third\n")
    buffer.flush()
    assert stream.writes == []  # nothing before the iteration ends
    await asyncio.sleep(0)  # lets the loop finish this iteration
    assert len(stream.writes) == 1
    first, second, third = stream.getvalue().splitlines()
    assert (first, third) == ("first", "third")
    record = json.loads(second)
    assert (record["n"], record["event"], record["level"]) == (2, "request_handled", "info")
    assert record["trace_id"] == f"{0x1234:032x}"
    assert record["span_id"] == f"{0xBEEF:016x}"


async def test_a_line_from_another_thread_writes_the_buffer_in_order() -> None:
    stream = _CountingStream()
    buffer = LineBuffer(stream)
    buffer.write("loop\n")
    buffer.flush()

    def other_thread() -> None:
        buffer.write("thread\n")
        buffer.flush()  # no running loop in this thread: written at once, after "loop"

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert stream.getvalue() == "loop\nthread\n"
    await asyncio.sleep(0)
    assert stream.getvalue() == "loop\nthread\n"  # nothing twice


async def test_service_lines_and_audit_lines_keep_their_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(LogSettings(format="json", level="INFO"))
    try:
        log = structlog.get_logger("t")
        audit = InfoLine(log, "request_handled", ("n",))
        audit(1)
        log.info("between")
        audit(2)
        await asyncio.sleep(0)
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
    events = [(r["event"], r.get("n")) for r in map(json.loads, err.splitlines())]
    assert events == [("request_handled", 1), ("between", None), ("request_handled", 2)]
