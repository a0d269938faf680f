"""Kubernetes manifests (deploy/k8s): schema-valid, and saying what the services need.

Every complete manifest of the base, the example Secrets and the rendered
production overlay is validated with kubernetes-validate (strict). The overlay
is rendered here in Python (``render``: resources, namespace, images, replicas
and strategic-merge patches, the subset the overlay uses) so no kustomize binary
is needed; where ``kubectl`` exists, its rendering must equal ours. KEDA's
ScaledObject is not in those schemas: a test asserts its fields instead.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from conveyor.keys import Keys
from conveyor.streams import Group
from conveyor_worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "production"
K8S_VERSION = "1.31.0"
SERVICES = ("ingest", "scheduler", "worker")
PROBE_PORTS = {"ingest": 8080, "scheduler": 9102, "worker": 9101}

Doc = dict[str, Any]


def load_docs(path: Path) -> list[Doc]:
    """The non-empty YAML documents of ``path``."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(folder: Path) -> list[Doc]:
    """Render a kustomization the way kustomize does, for the features used here."""
    kust = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = (
        set(kust)
        - {"apiVersion", "kind", "namespace", "resources", "images"}
        - {
            "replicas",
            "patches",
        }
    )
    assert not unknown, f"render() does not implement {unknown}: extend it"
    docs: list[Doc] = []
    for resource in kust.get("resources", []):
        path = folder / resource
        docs += render(path) if path.is_dir() else load_docs(path)
    for patch in kust.get("patches", []):
        body = yaml.safe_load((folder / patch["path"]).read_text())
        merge(find(docs, body["kind"], body["metadata"]["name"]), body)
    for replicas in kust.get("replicas", []):
        find(docs, "Deployment", replicas["name"])["spec"]["replicas"] = replicas["count"]
    for image in kust.get("images", []):
        for container in containers(docs):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = f"{image['newName']}:{image['newTag']}"
    if "namespace" in kust:
        for doc in docs:
            if doc["kind"] != "Namespace":
                doc["metadata"]["namespace"] = kust["namespace"]
    return docs


def merge(target: Doc, patch: Doc) -> None:
    """Strategic merge: maps merge, lists of named maps merge by name, other lists replace."""
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        elif isinstance(current, list) and _named_list(value) and _named_list(current):
            target[key] = _merge_named(current, value)
        else:
            target[key] = copy.deepcopy(value)


def _merge_named(current: list[Doc], patch: list[Doc]) -> list[Doc]:
    """Like kustomize: the patch's items first (merged by name), then the others in order."""
    by_name = {item["name"]: item for item in current}
    merged = []
    for item in patch:
        if item["name"] in by_name:
            merge(by_name[item["name"]], item)
            merged.append(by_name[item["name"]])
        else:
            merged.append(copy.deepcopy(item))
    named = {item["name"] for item in patch}
    return merged + [item for item in current if item["name"] not in named]


def _named_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    """The one document of ``kind`` named ``name``."""
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def containers(docs: list[Doc]) -> list[Doc]:
    """Every container and init container of every pod template."""
    found: list[Doc] = []
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        found += pod.get("containers", []) + pod.get("initContainers", [])
    return found


def base_docs() -> list[Doc]:
    """The base's resources as written (before the overlay)."""
    return render(BASE)


def _is_keda(doc: Doc) -> bool:
    return str(doc["apiVersion"]).startswith("keda.sh/")


def _label(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


BASE_DOCS = [d for d in base_docs() + load_docs(BASE / "secrets.example.yaml") if not _is_keda(d)]
OVERLAY_DOCS = [d for d in render(OVERLAY) if not _is_keda(d)]


@pytest.mark.parametrize("doc", BASE_DOCS, ids=_label)
def test_base_manifest_is_valid(doc: Doc) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("doc", OVERLAY_DOCS, ids=_label)
def test_rendered_overlay_manifest_is_valid(doc: Doc) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_rejects_a_broken_manifest() -> None:
    broken = copy.deepcopy(find(BASE_DOCS, "Deployment", "conveyor-worker"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSeconds"] = "ten"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl not installed: Python render only")
@pytest.mark.parametrize("folder", [BASE, OVERLAY], ids=["base", "overlay"])
def test_python_rendering_equals_kubectl_kustomize(folder: Path) -> None:
    output = subprocess.run(  # noqa: S603 - fixed arguments, our own folder
        ["kubectl", "kustomize", str(folder)],  # noqa: S607 - kubectl found on PATH above
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    theirs = {_label(d): d for d in yaml.safe_load_all(output) if d}
    ours = {_label(d): d for d in render(folder)}
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
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["CONVEYOR_REDIS_URL"]["valueFrom"]["secretKeyRef"]
    secret = find(load_docs(BASE / "secrets.example.yaml"), "Secret", ref["name"])
    assert secret["stringData"][ref["key"]].startswith(f"redis://conveyor-{service}:")


def test_worker_grace_outlasts_its_drain() -> None:
    pod = find(base_docs(), "Deployment", "conveyor-worker")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    default = WorkerSettings.model_fields["shutdown_grace"].default
    drain = float(env.get("CONVEYOR_WORKER_SHUTDOWN_GRACE", default))
    assert pod["terminationGracePeriodSeconds"] > drain + 5


def test_ingest_jwt_key_comes_from_a_secret_and_is_exposed_by_ingress() -> None:
    docs = base_docs()
    container = find(docs, "Deployment", "conveyor-ingest")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in container["containers"][0]["env"]}
    ref = env["CONVEYOR_INGEST_JWT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert (
        ref["key"]
        in find(load_docs(BASE / "secrets.example.yaml"), "Secret", ref["name"])["stringData"]
    )
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


def test_keda_scales_workers_on_the_task_streams_group_lag() -> None:
    docs = render(OVERLAY)
    scaled = find(docs, "ScaledObject", "conveyor-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    target = spec["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "conveyor-worker")
    find(docs, "Deployment", target["name"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis-streams"
    meta = trigger["metadata"]
    assert meta["stream"] == Keys(prefix="conveyor").queue("default").tasks
    assert meta["consumerGroup"] == Group.WORKERS.value
    assert int(meta.get("lagCount") or meta["pendingEntriesCount"]) > 0
    assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata values are strings
    host, port = meta["address"].split(":")
    redis = find(docs, "Service", host.split(".")[0])
    assert int(port) in [p["port"] for p in redis["spec"]["ports"]]
    auth = find(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    params = {p["parameter"]: p for p in auth["spec"]["secretTargetRef"]}
    assert set(params) == {"username", "password"}
    secret = find(load_docs(BASE / "secrets.example.yaml"), "Secret", params["username"]["name"])
    assert secret["stringData"][params["username"]["key"]] == "conveyor-keda"
    assert params["password"]["key"] in secret["stringData"]


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
    secret = find(load_docs(BASE / "secrets.example.yaml"), "Secret", "conveyor-redis-acl")
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
