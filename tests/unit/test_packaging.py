"""Every package: one version source, the MIT licence, the library's producer-only base."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["libs/conveyor", "services/ingest", "services/scheduler", "services/worker"]
VERSION_FILE = ROOT / "libs/conveyor/src/conveyor/_version.py"


def _project(folder: str) -> dict[str, object]:
    data = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())
    return data


@pytest.mark.parametrize("folder", PACKAGES)
def test_package_takes_the_one_version_and_the_licence(folder: str) -> None:
    data = _project(folder)
    project = data["project"]
    assert isinstance(project, dict)
    assert project["dynamic"] == ["version"]
    assert "version" not in project
    hatch = data["tool"]["hatch"]  # type: ignore[index]
    assert (ROOT / folder / hatch["version"]["path"]).resolve() == VERSION_FILE
    assert project["license"] == "MIT"
    assert (ROOT / folder / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


def test_the_library_base_install_is_what_producers_need() -> None:
    project = _project("libs/conveyor")["project"]
    assert isinstance(project, dict)
    names = {dep.split(">")[0].split("[")[0] for dep in project["dependencies"]}
    base = {"redis", "pydantic", "pydantic-settings", "httpx", "sniffio", "opentelemetry-api"}
    assert names == base
    assert project["name"] == "conveyor-tasks"


def test_the_changelog_names_the_current_version() -> None:
    version = VERSION_FILE.read_text().rsplit('"', 2)[1]
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()


def test_the_cli_is_an_extra_with_its_console_script() -> None:
    project = _project("libs/conveyor")["project"]
    assert isinstance(project, dict)
    cli = {dep.split(">")[0].split("[")[0] for dep in project["optional-dependencies"]["cli"]}
    assert {"click", "rich", "PyYAML", "PyJWT"} <= cli
    assert project["scripts"] == {"conveyor": "conveyor.cli:main"}
