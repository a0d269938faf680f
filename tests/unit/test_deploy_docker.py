"""The service images (deploy/docker/Dockerfile), checked without a Docker engine.

hadolint lints every Dockerfile; the build rules (hashed locks, non-root user,
nothing but the virtualenv copied into the final stages) are asserted on the
parsed file; and each image's exact ENTRYPOINT/CMD, with the image's ENV, is run
as a process here with one invalid setting: exit code 2 and the one-line error
naming that service's variable prove the command reaches the right service's
settings loading. Each HEALTHCHECK command is run against a live and a dead port.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conveyor.localserver import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(
    p for p in (ROOT / "deploy").rglob("Dockerfile*") if not p.name.endswith(".dockerignore")
)
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
VENV_BIN = Path(sys.executable).parent
IMAGE_VENV_BIN = "/opt/venv/bin"

# target -> (an invalid value of a variable only that service reads, its port variable)
TARGETS = {
    "ingest": ("CONVEYOR_INGEST_PORT", "CONVEYOR_INGEST_PORT"),
    "scheduler": ("CONVEYOR_SCHEDULER_METRICS_PORT", "CONVEYOR_SCHEDULER_METRICS_PORT"),
    "worker": ("CONVEYOR_WORKER_CONCURRENCY", "CONVEYOR_WORKER_METRICS_PORT"),
}


@dataclass
class Stage:
    """One build stage: its base, and the instructions in order."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, instruction: str) -> str | None:
        """Arguments of the stage's last ``instruction``, if any."""
        found = [args for name, args in self.instructions if name == instruction]
        return found[-1] if found else None


def parse_dockerfile(path: Path) -> dict[str, Stage]:
    """Stages by name; continuation lines joined, comments dropped."""
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for raw in text.replace("\\\n", " ").splitlines():
        if not raw.strip():
            continue
        instruction, _, args = raw.strip().partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = args.split()
            current = Stage(name=words[-1] if "AS" in map(str.upper, words) else "", base=words[0])
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((instruction, args.strip()))
    return stages


def chain(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The stages ``target`` is built on, base first."""
    found = [stages[target]]
    while found[0].base in stages:
        found.insert(0, stages[found[0].base])
    return found


def image_env(stages: dict[str, Stage], target: str) -> dict[str, str]:
    """ENV of the final image, with the image's virtualenv mapped to this checkout's."""
    env: dict[str, str] = {}
    for stage in chain(stages, target):
        for name, args in stage.instructions:
            if name == "ENV":
                for pair in shlex.split(args):
                    key, _, value = pair.partition("=")
                    env[key] = value
    path = env.get("PATH", "$PATH").replace("$PATH", os.environ.get("PATH", "/usr/bin:/bin"))
    env["PATH"] = path.replace(IMAGE_VENV_BIN, str(VENV_BIN))
    return env


def exec_form(args: str | None) -> list[str]:
    """A JSON (exec-form) argument list; shell form fails the test."""
    assert args is not None
    value = json.loads(args)
    assert isinstance(value, list)
    assert all(isinstance(item, str) for item in value)
    return value


STAGES = parse_dockerfile(DOCKERFILE)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_passes(dockerfile: Path) -> None:
    result = subprocess.run(  # noqa: S603 - the pinned hadolint binary, our own file
        [str(HADOLINT), "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nCMD conveyor-worker\n")
    result = subprocess.run(  # noqa: S603 - the pinned hadolint binary, a temp file
        [str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag


def test_dependencies_come_only_from_the_hashed_locks() -> None:
    build = STAGES["build"]
    runs = [args for name, args in build.instructions if name == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs
    for run in installs:
        assert "--no-deps" in run
        assert "--require-hashes" in run or "--no-index" in run
    assert any("-r requirements-runtime.lock" in r and "/opt/venv/bin/pip" in r for r in runs)
    lock = (ROOT / "requirements-runtime.lock").read_text()
    assert "--hash=sha256:" in lock
    for dev_tool in ("pytest", "mypy", "ruff", "hadolint"):
        assert f"\n{dev_tool}==" not in lock, f"{dev_tool} is a dev tool, not a runtime one"


@pytest.mark.parametrize("target", TARGETS)
def test_final_image_is_slim_non_root_and_copies_only_the_virtualenv(target: str) -> None:
    stages = chain(STAGES, target)
    assert stages[0].base in ("${PYTHON_IMAGE}", "python:3.11-slim")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()
    instructions = [i for stage in stages for i in stage.instructions]
    copies = [args for name, args in instructions if name == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    runs = " ".join(args for name, args in instructions if name == "RUN")
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in runs
    user = [args for name, args in instructions if name == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert stages[-1].last("HEALTHCHECK") is not None


@pytest.mark.parametrize("target", TARGETS)
def test_entry_command_starts_the_right_service(target: str, tmp_path: Path) -> None:
    stage = STAGES[target]
    command = exec_form(stage.last("ENTRYPOINT")) + (
        exec_form(stage.last("CMD")) if stage.last("CMD") else []
    )
    variable = TARGETS[target][0]
    env = image_env(STAGES, target)
    env |= {
        "HOME": str(tmp_path),
        # Unreachable: a wrong service would fail on Redis, not on this variable.
        "CONVEYOR_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        variable: "not-a-number",
    }
    result = subprocess.run(  # noqa: S603 - the image's own entry command
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    # stderr holds the JSON log lines (e.g. service_started) and the one error line.
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("{")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"conveyor-{target}: invalid configuration: {variable}:")
    assert all(
        json.loads(line).get("service", target) == target for line in lines if line.startswith("{")
    )


class _Live(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/livez" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def live_port() -> Iterator[int]:
    """A port where something answers GET /livez with 200."""
    server = HTTPServer(("127.0.0.1", 0), _Live)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _healthcheck(target: str) -> list[str]:
    args = STAGES[target].last("HEALTHCHECK")
    assert args is not None
    return exec_form(args[args.index("CMD") + 3 :].strip())


@pytest.mark.parametrize("target", TARGETS)
def test_healthcheck_follows_the_probe_port(target: str, live_port: int) -> None:
    command = _healthcheck(target)
    assert command[0] == "python"
    env = image_env(STAGES, target)
    port_variable = TARGETS[target][1]
    assert env[port_variable]  # the image sets the port the check reads
    run = [sys.executable, *command[1:]]
    healthy = subprocess.run(  # noqa: S603 - the image's own health check
        run, env=env | {port_variable: str(live_port)}, timeout=30, check=False
    )
    assert healthy.returncode == 0
    dead = subprocess.run(  # noqa: S603 - the image's own health check
        run,
        env=env | {port_variable: str(free_port())},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert dead.returncode != 0


def read_lock(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a hashed requirements file (markers dropped)."""
    entries: dict[str, tuple[str, frozenset[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        spec, *rest = line.split()
        name, _, version = spec.partition("==")
        hashes = frozenset(w.removeprefix("--hash=") for w in rest if w.startswith("--hash="))
        entries[canonicalize_name(name)] = (version.split(";")[0], hashes)
    return entries


def test_runtime_lock_agrees_with_the_full_lock() -> None:
    runtime = read_lock(ROOT / "requirements-runtime.lock")
    full = read_lock(ROOT / "requirements.lock")
    assert runtime
    for name, pin in runtime.items():
        assert full.get(name) == pin, f"{name}: run `make lock` (the two locks disagree)"


def test_runtime_lock_is_closed_under_the_services_dependencies() -> None:
    """Installing it with --no-deps (as the image does) leaves nothing missing."""
    runtime = read_lock(ROOT / "requirements-runtime.lock")
    workspace = {"conveyor-tasks", "conveyor-ingest", "conveyor-scheduler", "conveyor-worker"}
    # (distribution, the extras asked of it): the services ask extras of the library.
    todo: list[tuple[str, frozenset[str]]] = [(name, frozenset()) for name in sorted(workspace)]
    seen: set[tuple[str, frozenset[str]]] = set()
    missing: list[str] = []
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            wanted = [{"extra": extra} for extra in ("", *extras)]
            if requirement.marker and not any(map(requirement.marker.evaluate, wanted)):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency not in runtime and dependency not in workspace:
                missing.append(f"{name} -> {dependency}")
            todo.append((dependency, frozenset(requirement.extras)))
    assert not missing, f"runtime lock lacks {missing}: run `make lock`"
