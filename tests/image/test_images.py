"""The service images, built and run for real (``make image-test``; marker ``image``).

Builds the three targets of deploy/docker/Dockerfile with ``build-images.sh``
(whichever builder is installed) on a local Debian base (``local-base.sh``,
debootstrap, cached in /var/tmp/conveyor-base), then runs each image's own
ENTRYPOINT with ``buildah run --isolation chroot`` (where a sandbox refuses
``podman run``) against a redis-server on loopback: the quick-start flow end to
end (``/livez``, a 202 with a token the ingest image mints, the task reaching
``succeeded``), then SIGTERM to each service process and a clean drain (exit 0,
``service_stopped``). Skips, with the reason, where no builder, no buildah or no
base image can be had.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import aiohttp
import pytest

from conveyor.localserver import LocalServer, free_port
from waiting import wait_for

pytestmark = [pytest.mark.image, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
SERVICES = ("ingest", "worker", "scheduler")
SECRET = "image-test-secret-of-sufficient-length-for-hs256"
PORT_VARIABLE = {
    "ingest": "CONVEYOR_INGEST_PORT",
    "worker": "CONVEYOR_WORKER_METRICS_PORT",
    "scheduler": "CONVEYOR_SCHEDULER_METRICS_PORT",
}
# Where no registry is reachable: the debootstrap base (override with PYTHON_IMAGE).
LOCAL_BASE = "localhost/conveyor-python:3.11-bookworm"
BUILD_ENV = {"BUILDAH_ISOLATION": os.environ.get("BUILDAH_ISOLATION", "chroot")}


def _run(command: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """stdout of ``command``; a failure fails the test with its output."""
    result = subprocess.run(  # noqa: S603 - our own scripts and buildah, fixed arguments
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _base_image() -> str:
    """The base image to build on; skip when there is none and none can be made."""
    if os.environ.get("PYTHON_IMAGE"):
        return os.environ["PYTHON_IMAGE"]
    result = subprocess.run(  # noqa: S603 - our own script
        [str(DOCKER / "local-base.sh"), LOCAL_BASE],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode == 3:  # the script's "cannot here" (no builder, no debootstrap)
        pytest.skip(f"no base image: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return LOCAL_BASE


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """service -> image name, freshly built (the builders' layer cache makes rebuilds quick)."""
    if not shutil.which("buildah"):
        pytest.skip("buildah is not installed: it runs the images here (apt-get install buildah)")
    base = _base_image()
    started = time.monotonic()
    output = _run(
        [str(DOCKER / "build-images.sh"), *SERVICES],
        timeout=1500,
        env={**BUILD_ENV, "PYTHON_IMAGE": base},
    )
    print(f"images built in {time.monotonic() - started:.1f} s")  # noqa: T201 - the timing
    names = output.split()
    assert [name.split(":")[0] for name in names] == [f"conveyor-{s}" for s in SERVICES]
    return dict(zip(SERVICES, names, strict=True))


@dataclass
class Container:
    """One image running under ``buildah run``, and its log."""

    service: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int

    def service_pid(self, entrypoint: str) -> int:
        """PID of the service process itself (chroot isolation shares the PID space).

        SIGTERM to ``buildah run`` kills the command instead of passing the signal on,
        so the test signals the service the way a container runtime would.
        """
        for child in _descendants(self.process.pid):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if any(part.endswith(entrypoint.encode()) for part in cmdline[:2]) and (
                b"python" in cmdline[0]
            ):
                return child
        msg = f"no {entrypoint} process under buildah run {self.process.pid}"
        raise AssertionError(msg)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _config(image: str) -> dict[str, object]:
    """The image's Docker config (ENTRYPOINT, User, Healthcheck...)."""
    inspected = json.loads(_run(["buildah", "inspect", "--type", "image", image], timeout=60))
    config: dict[str, object] = inspected["Docker"]["config"]
    return config


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A redis-server of the test's own, on loopback."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    with LocalServer(tmp_path_factory.mktemp("image-redis"), kind="redis") as server:
        yield server


@pytest.fixture(scope="module")
def containers(
    images: dict[str, str], redis_server: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Container]]:
    """The three images running their own entry commands, sharing the host's loopback."""
    folder = tmp_path_factory.mktemp("image-logs")
    env = {
        "CONVEYOR_REDIS_URL": redis_server.url,
        "CONVEYOR_INGEST_JWT_SECRET": SECRET,
        "CONVEYOR_WORKER_BLOCK_MS": "100",
        "CONVEYOR_WORKER_SHUTDOWN_GRACE": "10",
    }
    running: dict[str, Container] = {}
    names: list[str] = []
    try:
        for service in SERVICES:
            name = _run(["buildah", "from", "--pull=never", images[service]], timeout=120).strip()
            names.append(name)
            port = free_port()
            entry = _config(images[service])["Entrypoint"]
            assert isinstance(entry, list)
            settings = {**env, PORT_VARIABLE[service]: str(port)}
            log = folder / f"{service}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603 - buildah running the image's entry command
                    [
                        *("buildah", "run", "--isolation", "chroot", "--network", "host"),
                        *(f"--env={key}={value}" for key, value in settings.items()),
                        *(name, "--", *entry),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            running[service] = Container(service, process, log, port)
        yield running
    finally:
        for container in running.values():
            if container.process.poll() is None:
                container.process.kill()
                container.process.wait(30)
        for name in names:
            subprocess.run(["buildah", "rm", name], capture_output=True, check=False)  # noqa: S603, S607


def _mint_token(image: str) -> str:
    """A development token, minted by the ingest image's own ``token`` command."""
    name = _run(["buildah", "from", "--pull=never", image], timeout=120).strip()
    try:
        return _run(
            [
                *("buildah", "run", "--isolation", "chroot"),
                f"--env=CONVEYOR_INGEST_JWT_SECRET={SECRET}",
                *(name, "--", "conveyor-ingest", "token", "--sub", "image-test"),
                *("--scope", "tasks:write tasks:read"),
            ],
            timeout=120,
        ).strip()
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True, check=False)  # noqa: S603, S607


def test_images_keep_their_healthcheck_and_run_as_non_root(images: dict[str, str]) -> None:
    for service, image in images.items():
        config = _config(image)
        assert config["User"] == "10001:10001", service
        healthcheck = config.get("Healthcheck")
        assert isinstance(healthcheck, dict), f"{service}: HEALTHCHECK lost (OCI format?)"
        assert healthcheck["Test"][:2] == ["CMD", "python"]


# Run inside an image: its installed distributions, and whether these modules exist.
INVENTORY = """
import importlib.metadata as m, importlib.util as u, json
print(json.dumps({
    "dists": sorted(d.metadata["Name"].lower().replace("_", "-") for d in m.distributions()),
    "present": [n for n in ("pip", "conveyor.devrun", "conveyor.localserver") if u.find_spec(n)],
}))
"""


def _lock_names(service: str) -> tuple[set[str], set[str]]:
    """Names in the service's lock: unconditional, and those behind an environment marker."""
    text = (ROOT / "services" / service / "requirements.lock").read_text()
    always: set[str] = set()
    conditional: set[str] = set()
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            spec, _, marker = line.partition(";")
            name = spec.split("==")[0].strip().lower().replace("_", "-")
            (conditional if marker.strip(" \\") else always).add(name)
    return always, conditional


def test_each_image_holds_only_its_service(images: dict[str, str]) -> None:
    """Exactly the service's lock plus the two wheels; no pip, no local-server launcher."""
    for service, image in images.items():
        name = _run(["buildah", "from", "--pull=never", image], timeout=120).strip()
        try:
            command = ["buildah", "run", "--isolation", "chroot", name, "--"]
            found = json.loads(_run([*command, "python", "-c", INVENTORY], timeout=120))
        finally:
            subprocess.run(["buildah", "rm", name], capture_output=True, check=False)  # noqa: S603, S607
        assert found["present"] == [], service
        always, conditional = _lock_names(service)
        dists = set(found["dists"])
        assert always | {"conveyor-tasks", f"conveyor-{service}"} <= dists, service
        assert dists - always - {"conveyor-tasks", f"conveyor-{service}"} <= conditional, service
        if service != "ingest":
            assert not {"aiohttp", "pyjwt", "cryptography"} & dists, service


async def test_quick_start_flow_then_sigterm_drain(
    images: dict[str, str], containers: dict[str, Container]
) -> None:
    """/livez, a 202, ``succeeded``; then SIGTERM: the worker finishes its running task."""
    async with aiohttp.ClientSession() as http:
        for container in containers.values():
            url = f"http://127.0.0.1:{container.port}/livez"
            await wait_for(partial(_answers, http, url), within=120, interval=0.2, what=url)
        api = Api(http, containers["ingest"].port, _mint_token(images["ingest"]))
        echo = await api.post({"type": "demo.echo", "payload": {"hi": 1}})
        await wait_for(lambda: api.has(echo, "succeeded"), within=60, interval=0.2, what="echo")
        assert (await api.task(echo))["result"] == {"hi": 1}

        slow = await api.post({"type": "demo.sleep", "payload": {"seconds": 2}})
        await wait_for(lambda: api.has(slow, "running"), within=60, interval=0.05, what="running")
        await _stop(containers["worker"], images["worker"])
        assert (await api.task(slow))["status"] == "succeeded"  # drained, not abandoned
    for service in ("ingest", "scheduler"):
        await _stop(containers[service], images[service])


@dataclass
class Api:
    """The ingest API with a bearer token."""

    http: aiohttp.ClientSession
    port: int
    token: str

    async def post(self, body: dict[str, object]) -> str:
        """POST a task; assert 202; its id."""
        async with self.http.post(self._url(), json=body, headers=self._auth()) as response:
            assert response.status == 202, await response.text()
            task_id: str = (await response.json())["data"]["id"]
        return task_id

    async def task(self, task_id: str) -> dict[str, object]:
        """The task's read-model view."""
        async with self.http.get(self._url(task_id), headers=self._auth()) as response:
            assert response.status == 200, await response.text()
            data: dict[str, object] = (await response.json())["data"]
        return data

    async def has(self, task_id: str, status: str) -> bool:
        """Whether the task's status is ``status``."""
        return (await self.task(task_id))["status"] == status

    def _url(self, task_id: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/tasks" + (f"/{task_id}" if task_id else "")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def _stop(container: Container, image: str) -> None:
    """SIGTERM the service; it exits 0 after logging ``service_stopped``."""
    entry = _config(image)["Entrypoint"]
    assert isinstance(entry, list)
    started = time.monotonic()
    os.kill(container.service_pid(entry[0]), signal.SIGTERM)
    await wait_for(lambda: container.process.poll() is not None, within=60, what=container.service)
    took = time.monotonic() - started
    print(f"{container.service} stopped {took:.1f} s after SIGTERM")  # noqa: T201 - timing
    log = container.log.read_text()
    assert container.process.returncode == 0, log
    assert '"event":"service_stopped"' in log, log


async def _answers(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False
