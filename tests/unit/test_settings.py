"""Settings: defaults, comma-separated queues, and one clear line per bad variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conveyor.errors import ConfigurationError
from conveyor.settings import LogSettings, RedisSettings, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONVEYOR_REDIS_URL", "CONVEYOR_KEY_PREFIX", "CONVEYOR_QUEUES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(RedisSettings)
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.key_prefix == "conveyor"
    assert settings.queues == ("default",)


def test_queues_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_QUEUES", " emails, reports ,default")
    assert load_settings(RedisSettings).queues == ("emails", "reports", "default")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CONVEYOR_REDIS_URL", "http://x", "CONVEYOR_REDIS_URL: must start with redis://"),
        ("CONVEYOR_QUEUES", "a,{b}", "CONVEYOR_QUEUES: invalid queue name '{b}'"),
        ("CONVEYOR_QUEUES", " , ", "CONVEYOR_QUEUES: name at least one queue"),
        ("CONVEYOR_QUEUES", "a,a", "CONVEYOR_QUEUES: a queue is named twice"),
        ("CONVEYOR_KEY_PREFIX", "a:b", "CONVEYOR_KEY_PREFIX: use 1-32 letters"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(RedisSettings)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_LOG_LEVEL", "debug")
    assert load_settings(LogSettings).level == "DEBUG"


@pytest.mark.parametrize("service", ["ingest", "scheduler", "worker"])
def test_service_refuses_bad_configuration_with_one_line_and_exit_2(service: str) -> None:
    prefix = f"CONVEYOR_{service.upper()}_METRICS_PORT"
    if service == "ingest":
        prefix = "CONVEYOR_INGEST_PORT"
    result = subprocess.run(  # noqa: S603 - fixed argument list
        [sys.executable, "-m", f"conveyor_{service}"],
        env={prefix: "seventy", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"conveyor-{service}: invalid configuration: {prefix}: ")
    assert "valid integer" in lines[-1]
