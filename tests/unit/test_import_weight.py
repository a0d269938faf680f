"""What each entry point imports: heavy modules load only where they are used.

Checked in a fresh interpreter (``sys.modules`` after the import), not timed: the
figures are in ``make bench``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

REPORT = "import json, sys; print(json.dumps(sorted(sys.modules)))"


def _loaded(code: str) -> set[str]:
    done = subprocess.run(  # noqa: S603 - this interpreter and a fixed script
        [sys.executable, "-c", f"{code}\n{REPORT}"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return set(json.loads(done.stdout.splitlines()[-1]))


def _under(modules: set[str], *packages: str) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in packages or m.startswith(packages))


def test_http_client_loads_neither_redis_nor_pydantic_nor_service_modules() -> None:
    loaded = _loaded("import conveyor\nconveyor.Client('http://127.0.0.1:9')")
    heavy = ("redis", "pydantic", "pydantic_settings", "structlog", "aiohttp", "prometheus_client")
    assert _under(loaded, *heavy, "opentelemetry.sdk") == []


def test_redis_client_loads_no_service_modules_and_no_tracing_sdk() -> None:
    # redis-py itself imports the OTel *metrics* SDK when it is installed (its
    # observability module); the tracing SDK, structlog and aiohttp are ours to avoid.
    loaded = _loaded("import conveyor\nconveyor.Client('redis://127.0.0.1:9/0')")
    heavy = ("structlog", "aiohttp", "prometheus_client", "opentelemetry.sdk.trace")
    assert _under(loaded, *heavy) == []


@pytest.mark.parametrize("service", ["worker", "scheduler"])
def test_service_without_tracing_does_not_load_the_tracing_sdk(service: str) -> None:
    loaded = _loaded(f"import conveyor_{service}.__main__")
    assert _under(loaded, "opentelemetry.sdk.trace") == []
