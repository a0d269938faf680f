"""Kubernetes: queues and autoscaling from one source, what the Ingress exposes, Redis, scraping.

deploy/k8s/queues.py writes the services' queue ConfigMap and KEDA's ScaledObject
from the services' own settings; every committed queues.yaml must be exactly what
it writes for the values the file carries. KEDA's triggers, the Ingress, the
Redis probes and the ServiceMonitor are checked on every rendered kustomization.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from conveyor.keys import Keys
from conveyor.settings import RedisSettings
from conveyor.streams import Group
from conveyor_ingest.app import create_app
from conveyor_ingest.settings import IngestSettings
from unit.k8s_render import BASE, K8S, KUSTOMIZATIONS, Doc, env_of, find, load_docs, render

SERVICES = ("ingest", "scheduler", "worker")
PROBE_PORTS = {"ingest": 8080, "scheduler": 9102, "worker": 9101}
QUEUE_FILES = sorted(K8S.rglob("queues.yaml"))
RENDERED = {folder.name: render(folder) for folder in KUSTOMIZATIONS}
# Routes the Ingress must not publish (the kubelet and Prometheus reach the pod itself).
PRIVATE = ("/metrics", "/livez", "/readyz")
DOCS = ("/api/v1/docs", "/api/v1/docs/redoc.standalone.js", "/api/v1/openapi.json")
DASHBOARD = ("/dashboard", "/dashboard/dashboard.js", "/dashboard/dashboard.css")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_queues", K8S / "queues.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


queues = _load_generator()


def _environ(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in ("CONVEYOR_QUEUES", "CONVEYOR_QUEUE_PARTITIONS", "CONVEYOR_KEY_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _levels(stream: str) -> list[str]:
    """A shard's task streams, one per priority level, highest first."""
    return [f"{stream}:high", stream, f"{stream}:low"]


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> RedisSettings:
    _environ(monkeypatch, env)
    return RedisSettings()


@pytest.mark.parametrize(
    ("env", "streams"),
    [
        ({}, _levels("conveyor:{default}:tasks")),
        (
            {"CONVEYOR_QUEUES": "a,b", "CONVEYOR_QUEUE_PARTITIONS": "b=3"},
            [
                *_levels("conveyor:{a}:tasks"),
                *(s for p in ("", "~1", "~2") for s in _levels(f"conveyor:{{b{p}}}:tasks")),
            ],
        ),
        ({"CONVEYOR_QUEUES": "x", "CONVEYOR_KEY_PREFIX": "acme"}, _levels("acme:{x}:tasks")),
    ],
)
def test_generator_gives_one_trigger_per_queue_and_partition(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], streams: list[str]
) -> None:
    settings = _settings(monkeypatch, env)
    triggers = queues.scaled_object(settings)["spec"]["triggers"]
    assert [t["metadata"]["stream"] for t in triggers] == streams
    data = queues.config_map(settings)["data"]
    assert data["CONVEYOR_QUEUES"] == env.get("CONVEYOR_QUEUES", "default")
    assert data["CONVEYOR_QUEUE_PARTITIONS"] == env.get("CONVEYOR_QUEUE_PARTITIONS", "")


def test_generator_refuses_what_the_services_refuse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _environ(monkeypatch, {"CONVEYOR_QUEUES": "a", "CONVEYOR_QUEUE_PARTITIONS": "b=2"})
    assert queues.main(["-o", str(tmp_path / "queues.yaml")]) == 2
    assert "CONVEYOR_QUEUE_PARTITIONS names 'b'" in capsys.readouterr().err
    assert not (tmp_path / "queues.yaml").exists()


@pytest.mark.parametrize("path", QUEUE_FILES, ids=lambda p: str(p.relative_to(K8S)))
def test_committed_queue_files_are_what_the_generator_writes(
    monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    """No hand edits: regenerate from the file's own ConfigMap and compare."""
    config = find(load_docs(path), "ConfigMap", queues.CONFIG_MAP)
    settings = _settings(monkeypatch, {k: v for k, v in config["data"].items() if v})
    assert path.read_text() == queues.render(settings), f"regenerate {path} (see its header)"


def _container(docs: list[Doc], service: str) -> Doc:
    deployment = find(docs, "Deployment", f"conveyor-{service}")
    container: Doc = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.parametrize("name", RENDERED)
def test_keda_scales_on_every_shard_the_services_are_configured_with(name: str) -> None:
    docs = RENDERED[name]
    data = find(docs, "ConfigMap", queues.CONFIG_MAP)["data"]
    settings = RedisSettings(
        queues=data["CONVEYOR_QUEUES"],
        queue_partitions=data["CONVEYOR_QUEUE_PARTITIONS"],
        key_prefix=data["CONVEYOR_KEY_PREFIX"],
    )
    keys = Keys(settings.key_prefix, settings.queues, settings.queue_partitions)
    for service in SERVICES:  # the services read exactly these values
        container = _container(docs, service)
        assert container["envFrom"] == [{"configMapRef": {"name": queues.CONFIG_MAP}}]
        assert not set(env_of(container)) & set(data), f"{service} overrides the ConfigMap"
    scaled = find(docs, "ScaledObject", "conveyor-worker")["spec"]
    assert [t["metadata"]["stream"] for t in scaled["triggers"]] == [
        stream for shard in keys.all_queues() for stream in shard.level_streams
    ]
    target = find(docs, "Deployment", scaled["scaleTargetRef"]["name"])
    assert "replicas" not in target["spec"], "KEDA owns the worker count"
    for trigger in scaled["triggers"]:
        meta = trigger["metadata"]
        assert trigger["type"] == "redis-streams"
        assert meta["consumerGroup"] == Group.WORKERS.value
        assert int(meta["lagCount"]) > 0
        assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata values are strings
        address = env_of(_container(docs, "worker"))[meta["addressFromEnv"]]
        assert address["valueFrom"]["secretKeyRef"] == {"name": "conveyor-redis", "key": "address"}
        assert trigger["authenticationRef"]["name"] == queues.AUTHENTICATION


def test_keda_takes_tls_and_its_user_from_the_services_secrets() -> None:
    docs = render(BASE)
    auth = find(docs, "TriggerAuthentication", queues.AUTHENTICATION)
    params = {p["parameter"]: p for p in auth["spec"]["secretTargetRef"]}
    assert set(params) == {"username", "password", "tls"}
    secrets = {
        s["metadata"]["name"]: s["stringData"] for s in load_docs(BASE / "secrets.example.yaml")
    }
    assert (params["tls"]["name"], params["tls"]["key"]) == ("conveyor-redis", "tls")
    for service in SERVICES:  # the address and scheme come from that same Secret
        env = env_of(_container(docs, service))
        for variable, key in (("REDIS_ADDRESS", "address"), ("REDIS_SCHEME", "scheme")):
            assert env[variable]["valueFrom"]["secretKeyRef"] == {
                "name": "conveyor-redis",
                "key": key,
            }
    example = secrets["conveyor-redis"]
    assert (example["scheme"], example["tls"]) in (("redis", "disable"), ("rediss", "enable"))
    user = params["username"]
    assert secrets[user["name"]][user["key"]] == "conveyor-keda"


def _ingress_paths(docs: list[Doc]) -> list[Doc]:
    paths: list[Doc] = []
    for doc in docs:
        if doc["kind"] == "Ingress":
            for rule in doc["spec"]["rules"]:
                paths += rule["http"]["paths"]
    return paths


def _published(paths: list[Doc], route: str) -> bool:
    """Whether an Ingress path matches ``route`` (Prefix: whole path elements)."""
    for path in paths:
        prefix = path["path"].rstrip("/")
        if path["pathType"] == "Exact" and route == path["path"]:
            return True
        if path["pathType"] == "Prefix" and (route == prefix or route.startswith(prefix + "/")):
            return True
    return False


def _api_routes() -> list[str]:
    app = create_app(IngestSettings(auth_enabled=False), RedisSettings(), consume=False)
    routes = {r.canonical for r in app.router.resources()}
    return sorted(re.sub(r"\{[^}]*\}", "x", route) for route in routes)


@pytest.mark.parametrize("name", RENDERED)
def test_ingress_publishes_the_api_only(name: str) -> None:
    """Every API route, none of /metrics and the probes; docs and dashboard only as components."""
    paths = _ingress_paths(RENDERED[name])
    routes = _api_routes()
    assert paths
    assert all(p["path"].startswith("/api/v1/") or p["path"] == "/dashboard" for p in paths)
    for route in routes:
        if route.startswith("/api/v1/") and route not in DOCS:
            assert _published(paths, route), f"{route} is not published by the Ingress"
    for route in PRIVATE:
        assert route in routes
        assert not _published(paths, route)
    kust = yaml.safe_load(
        (
            K8S / ("base" if name == "base" else f"overlays/{name}") / "kustomization.yaml"
        ).read_text()
    )
    docs_enabled = any(c.endswith("components/api-docs") for c in kust.get("components", []))
    assert all(_published(paths, route) == docs_enabled for route in DOCS)
    dashboard = any(c.endswith("components/dashboard") for c in kust.get("components", []))
    assert all(route in routes for route in DASHBOARD)
    assert all(_published(paths, route) == dashboard for route in DASHBOARD)


def test_redis_is_pinned_probed_with_ping_and_has_a_pdb() -> None:
    docs = render(BASE)
    pod = find(docs, "StatefulSet", "conveyor-redis")["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        assert re.fullmatch(r"redis:\d+\.\d+\.\d+(-[a-z]+)?", container["image"])
    (redis,) = pod["containers"]
    env = env_of(redis)
    assert env["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"]["name"] == "conveyor-keda-redis"
    for probe in ("livenessProbe", "readinessProbe"):
        command = redis[probe]["exec"]["command"]
        assert command[:2] == ["sh", "-c"]
        assert 'redis-cli --no-auth-warning --user "$PROBE_USER" ping' in command[2]
    assert redis["readinessProbe"]["exec"]["command"][2].endswith("grep -qx PONG")
    pdb = find(docs, "PodDisruptionBudget", "conveyor-redis")
    selector = find(docs, "StatefulSet", "conveyor-redis")["spec"]["selector"]
    assert pdb["spec"]["selector"] == selector


def test_service_monitor_scrapes_every_service_on_its_metrics_port() -> None:
    docs = RENDERED["production"]
    monitor = find(docs, "ServiceMonitor", "conveyor")["spec"]
    assert monitor["selector"]["matchExpressions"][0]["values"] == [
        f"conveyor-{s}" for s in SERVICES
    ]
    endpoints = {e["port"]: e for e in monitor["endpoints"]}
    assert all(e["path"] == "/metrics" for e in endpoints.values())
    for service in SERVICES:
        container_ports = {
            p["name"]: p["containerPort"] for p in _container(docs, service)["ports"]
        }
        scraped = [
            port
            for doc in docs
            if doc["kind"] == "Service"
            and doc["spec"]["selector"] == {"app.kubernetes.io/name": f"conveyor-{service}"}
            and doc["metadata"]["labels"]["app.kubernetes.io/name"] == f"conveyor-{service}"
            for port in doc["spec"]["ports"]
            if port["name"] in endpoints
        ]
        assert [container_ports[p["targetPort"]] for p in scraped] == [PROBE_PORTS[service]]
