"""Logging: JSON lines off a TTY, with context variables merged in."""

from __future__ import annotations

import json

import pytest
import structlog

from conveyor.logging import configure_logging
from conveyor.settings import LogSettings


def test_json_lines_carry_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSettings(format="json", level="INFO"))
    structlog.contextvars.bind_contextvars(task_id="t-1", stream="s")
    try:
        structlog.get_logger("x").info("task_finished", outcome="succeeded")
        structlog.get_logger("x").debug("not_written")
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "task_finished"
    assert (record["task_id"], record["stream"], record["level"]) == ("t-1", "s", "info")
    assert "timestamp" in record
