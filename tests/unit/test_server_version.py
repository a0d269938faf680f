"""Servers older than Redis 7.0 are refused with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.connection import check_server
from conveyor.errors import UnsupportedServerError


class _HelloOnly:
    """Answers HELLO as an old server would; check_server must stop before anything else."""

    def __init__(self, version: str) -> None:
        self.version = version

    async def execute_command(self, *args: Any) -> dict[bytes, Any]:
        assert args == ("HELLO",)
        return {b"server": b"redis", b"version": self.version.encode(), b"proto": 2}


@pytest.mark.parametrize("version", ["6.2.14", "5.0.7", "6.9.255"])
async def test_old_servers_are_refused(version: str) -> None:
    with pytest.raises(
        UnsupportedServerError, match=rf"redis {version} is too old: Conveyor needs Redis >= 7.0"
    ):
        await check_server(_HelloOnly(version))  # type: ignore[arg-type]
