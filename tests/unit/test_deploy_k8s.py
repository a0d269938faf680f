"""Kubernetes manifests (deploy/k8s): schema-valid, and saying what the services need.

Every complete manifest of the base, the example Secrets and every rendered overlay
is validated with kubernetes-validate (strict). Kustomizations are rendered in
Python (tests/unit/k8s_render.py) so no kustomize binary is needed; where
``kubectl`` exists, its rendering must equal ours. Custom resources (KEDA, the
Prometheus Operator) are not in those schemas: tests assert their fields instead
(test_deploy_k8s_queues.py).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from conveyor.settings import RedisSettings
from conveyor_worker.settings import WorkerSettings
from unit.k8s_render import (
    BASE,
    KUSTOMIZATIONS,
    OVERLAYS,
    ROOT,
    Doc,
    containers,
    env_of,
    find,
    is_custom,
    label,
    load_docs,
    render,
)

OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "production"
K8S_VERSION = "1.31.0"
SERVICES = ("ingest", "scheduler", "worker")
PROBE_PORTS = {"ingest": 8080, "scheduler": 9102, "worker": 9101}


def base_docs() -> list[Doc]:
    """The base's resources as written (before any overlay)."""
    return render(BASE)


def example_secrets() -> list[Doc]:
    """deploy/k8s/base/secrets.example.yaml: the Secrets' names and keys."""
    return load_docs(BASE / "secrets.example.yaml")


BASE_DOCS = [d for d in base_docs() + example_secrets() if not is_custom(d)]
OVERLAY_DOCS = [(folder.name, d) for folder in OVERLAYS for d in render(folder) if not is_custom(d)]


@pytest.mark.parametrize("doc", BASE_DOCS, ids=label)
def test_base_manifest_is_valid(doc: Doc) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    ("overlay", "doc"), OVERLAY_DOCS, ids=[f"{o}-{label(d)}" for o, d in OVERLAY_DOCS]
)
def test_rendered_overlay_manifest_is_valid(overlay: str, doc: Doc) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_rejects_a_broken_manifest() -> None:
    broken = copy.deepcopy(find(BASE_DOCS, "Deployment", "conveyor-worker"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSeconds"] = "ten"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl not installed: Python render only")
@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_python_rendering_equals_kubectl_kustomize(folder: Path) -> None:
    output = subprocess.run(  # noqa: S603 - fixed arguments, our own folder
        ["kubectl", "kustomize", str(folder)],  # noqa: S607 - kubectl found on PATH above
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    theirs = {label(d): d for d in yaml.safe_load_all(output) if d}
    ours = {label(d): d for d in render(folder)}
    assert ours == theirs


def test_overlay_pins_images_and_applies_patches() -> None:
    docs = render(OVERLAY)
    images = sorted(c["image"] for c in containers(docs) if "conveyor-" in c["image"])
    assert images == [f"registry.example.com/conveyor/conveyor-{s}:0.1.0" for s in sorted(SERVICES)]
    worker = find(docs, "Deployment", "conveyor-worker")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in worker["containers"][0]["env"]}
    assert env["CONVEYOR_WORKER_CONCURRENCY"] == "128"
    assert "CONVEYOR_REDIS_URL" in env  # merged by name, not replaced
    assert find(docs, "Deployment", "conveyor-ingest")["spec"]["replicas"] == 3
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        "conveyor"
    }


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_is_hardened_and_probed(service: str) -> None:
    docs = base_docs()
    pod = find(docs, "Deployment", f"conveyor-{service}")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path
        assert ports[http["port"]] == PROBE_PORTS[service]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts  # noqa: S108 - the writable scratch dir of a read-only root


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_pdb_and_its_own_redis_user(service: str) -> None:
    docs = base_docs()
    deployment = find(docs, "Deployment", f"conveyor-{service}")
    pdb = find(docs, "PodDisruptionBudget", f"conveyor-{service}")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    ref = env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("conveyor-redis-passwords", service)
    url = env["CONVEYOR_REDIS_URL"]["value"]
    assert url == f"$(REDIS_SCHEME)://conveyor-{service}:$(REDIS_PASSWORD)@$(REDIS_ADDRESS)/0"
    # Kubernetes expands $(VAR) from the entries above it: the example Secrets give a
    # URL the services accept.
    secrets = {s["metadata"]["name"]: s["stringData"] for s in example_secrets()}
    order = list(env)
    for name in ("REDIS_SCHEME", "REDIS_PASSWORD", "REDIS_ADDRESS"):
        assert order.index(name) < order.index("CONVEYOR_REDIS_URL")
        source = env[name]["valueFrom"]["secretKeyRef"]
        url = url.replace(f"$({name})", secrets[source["name"]][source["key"]])
    assert RedisSettings(redis_url=url).redis_url.startswith(f"redis://conveyor-{service}:")


def test_worker_grace_outlasts_its_drain() -> None:
    pod = find(base_docs(), "Deployment", "conveyor-worker")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    default = WorkerSettings.model_fields["shutdown_grace"].default
    drain = float(env.get("CONVEYOR_WORKER_SHUTDOWN_GRACE", default))
    assert pod["terminationGracePeriodSeconds"] > drain + 5


def test_ingest_jwt_key_comes_from_a_secret_and_is_exposed_by_ingress() -> None:
    docs = base_docs()
    container = find(docs, "Deployment", "conveyor-ingest")["spec"]["template"]["spec"]
    env = env_of(container["containers"][0])
    ref = env["CONVEYOR_INGEST_JWT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] in find(example_secrets(), "Secret", ref["name"])["stringData"]
    service = find(docs, "Service", "conveyor-ingest")
    backend = find(docs, "Ingress", "conveyor-ingest")["spec"]["rules"][0]["http"]["paths"][0]
    assert backend["backend"]["service"]["name"] == service["metadata"]["name"]
    assert backend["backend"]["service"]["port"]["name"] in [
        p["name"] for p in service["spec"]["ports"]
    ]


def test_only_the_services_and_keda_reach_redis() -> None:
    docs = base_docs()
    assert find(docs, "NetworkPolicy", "default-deny-ingress")["spec"]["podSelector"] == {}
    policy = find(docs, "NetworkPolicy", "redis-from-services")["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "conveyor-redis"}
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}]
    services, keda = rule["from"]
    (expression,) = services["podSelector"]["matchExpressions"]
    assert sorted(expression["values"]) == [f"conveyor-{s}" for s in SERVICES]
    assert keda["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "keda"}


@pytest.mark.parametrize("name", ["redis.conf", "users.acl", "render-acl.sh"])
def test_redis_configmap_is_a_copy_of_deploy_redis(name: str) -> None:
    config = find(base_docs(), "ConfigMap", "conveyor-redis-config")
    assert config["data"][name] == (ROOT / "deploy" / "redis" / name).read_text()


def test_redis_renders_the_acl_from_digests_and_keeps_aof() -> None:
    docs = base_docs()
    pod = find(docs, "StatefulSet", "conveyor-redis")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["command"][1:] == [
        "/conveyor/render-acl.sh",
        "/conveyor/users.acl",
        "/acl/users.acl",
    ]
    assert init["envFrom"] == [{"secretRef": {"name": "conveyor-redis-acl"}}]
    secret = find(example_secrets(), "Secret", "conveyor-redis-acl")
    assert set(secret["stringData"]) == {
        f"{u}_SHA256" for u in ("INGEST", "SCHEDULER", "WORKER", "KEDA")
    }
    command = pod["containers"][0]["command"]
    assert command[:2] == ["redis-server", "/conveyor/redis.conf"]
    assert command[command.index("--aclfile") + 1] == "/acl/users.acl"
    conf = (ROOT / "deploy" / "redis" / "redis.conf").read_text().split("\n")
    assert "appendonly yes" in conf
    assert "maxmemory-policy noeviction" in conf


@pytest.mark.parametrize("service", SERVICES)
def test_pods_are_annotated_for_the_prometheus_scrape_config(service: str) -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus-k8s.yml").read_text())
    (job,) = config["scrape_configs"]
    keep = {
        tuple(r["source_labels"]): r["regex"]
        for r in job["relabel_configs"]
        if r.get("action") == "keep"
    }
    template = find(base_docs(), "Deployment", f"conveyor-{service}")["spec"]["template"]
    labels, annotations = template["metadata"]["labels"], template["metadata"]["annotations"]
    assert (
        labels["app.kubernetes.io/part-of"]
        == keep[("__meta_kubernetes_pod_label_app_kubernetes_io_part_of",)]
    )
    assert (
        annotations["prometheus.io/scrape"]
        == keep[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]
    )
    assert int(annotations["prometheus.io/port"]) == PROBE_PORTS[service]
