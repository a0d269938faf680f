"""The YAML schedules file: valid files load; bad ones fail with one line naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.errors import ConfigurationError
from conveyor.schedules import MisfirePolicy
from conveyor_scheduler.schedules_file import load_schedules_file, parse_schedules

EXAMPLE = """
schedules:
  - id: report.nightly
    cron: "0 30 2 * * ?"
    timezone: Europe/Berlin
    task:
      type: reports.build
      payload: {kind: nightly}
      max_attempts: 3
    misfire: catch_up
    catch_up_max: 2
    jitter: 30
  - id: heartbeat
    cron: "@every 1m"
    task: {type: demo.echo}
"""


def test_example_file_loads_with_defaults_filled_in(tmp_path: Path) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(EXAMPLE)
    nightly, heartbeat = load_schedules_file(path)
    assert nightly.id == "report.nightly"
    assert nightly.task.payload == {"kind": "nightly"}
    assert (nightly.misfire, nightly.catch_up_max, nightly.jitter) == (
        MisfirePolicy.CATCH_UP,
        2,
        30,
    )
    assert heartbeat.misfire is MisfirePolicy.FIRE_ONCE
    assert heartbeat.created_at_ms == 0  # @every counts from the epoch: replicas agree


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schedules: [", "not valid YAML"),
        ("- a\n- b\n", "top-level 'schedules:' list"),
        ("schedules:\n  - 3\n", r"schedules\[0\] must be a mapping"),
        (
            "schedules:\n  - {id: x, cron: '0 0 30 2 *', task: {type: t}}\n",
            "schedule 'x'",
        ),
        ("schedules:\n  - {id: x, cron: '* * * * *'}\n", "task"),
        (
            "schedules:\n  - {id: x, cron: '@hourly', task: {type: t}}\n"
            "  - {id: x, cron: '@daily', task: {type: t}}\n",
            "defined twice",
        ),
    ],
)
def test_invalid_file_is_a_configuration_error_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_schedules(text)


def test_empty_file_defines_nothing() -> None:
    assert parse_schedules("") == []


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read schedules file"):
        load_schedules_file(tmp_path / "absent.yaml")
