"""redis-cli commands in the docs name their server: copied literally, none writes to 6379."""

from __future__ import annotations

import re
from pathlib import Path

from conveyor.devrun import DevRunSettings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"^\s*(?:\$\s*)?(?:redis|valkey)-cli\b(?P<args>.*)$", re.MULTILINE)
SERVER = re.compile(r"\s-(?:p|h|u)\s+(?P<value>\S+)")


def test_every_documented_redis_cli_command_names_a_server() -> None:
    unnamed = [
        f"{page.name}: {match.group(0).strip()}"
        for page in PAGES
        for match in COMMAND.finditer(page.read_text())
        if not SERVER.search(match.group("args"))
    ]
    assert unnamed == []


def test_the_wire_format_xadd_example_targets_make_run_s_embedded_server() -> None:
    text = (ROOT / "docs" / "wire-format.md").read_text()
    example = next(m for m in COMMAND.finditer(text) if "XADD" in m.group("args"))
    port = SERVER.search(example.group("args"))
    assert port is not None
    assert port.group("value") == str(DevRunSettings.model_fields["redis_port"].default)
