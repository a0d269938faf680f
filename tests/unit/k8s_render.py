"""Renders deploy/k8s kustomizations in Python, for machines without kubectl.

The subset of kustomize the manifests use: resources, components, namespace,
images, replicas, strategic-merge patches (files of one or more objects) and JSON
patches (``add``/``replace``) with a target. ``test_deploy_k8s`` checks that
``kubectl kustomize`` renders the same objects where kubectl is installed; a
kustomization using anything else fails loudly until this module is taught it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
KUSTOMIZATIONS = [BASE, *OVERLAYS]
KNOWN = {"apiVersion", "kind", "namespace", "resources", "components", "images"}
KNOWN |= {"replicas", "patches"}

Doc = dict[str, Any]


def load_docs(path: Path) -> list[Doc]:
    """The non-empty YAML documents of ``path``."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(folder: Path, docs: list[Doc] | None = None) -> list[Doc]:
    """Render a kustomization (or apply a component to ``docs``) the way kustomize does."""
    kust = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kust) - KNOWN
    assert not unknown, f"render() does not implement {unknown}: extend tests/unit/k8s_render.py"
    docs = [] if docs is None else docs
    for resource in kust.get("resources", []):
        path = folder / resource
        docs += render(path) if path.is_dir() else load_docs(path)
    for component in kust.get("components", []):
        docs = render(folder / component, docs)
    for patch in kust.get("patches", []):
        _patch(docs, folder, patch)
    _transform(docs, kust)
    return docs


def _transform(docs: list[Doc], kust: Doc) -> None:
    """replicas, images and namespace of one kustomization."""
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


def _patch(docs: list[Doc], folder: Path, patch: Doc) -> None:
    text = patch["patch"] if "patch" in patch else (folder / patch["path"]).read_text()
    if "target" in patch:
        target = find(docs, patch["target"]["kind"], patch["target"]["name"])
        for operation in yaml.safe_load(text):
            json_patch(target, operation)
        return
    for body in yaml.safe_load_all(text):
        if body:
            merge(find(docs, body["kind"], body["metadata"]["name"]), body)


def json_patch(target: Doc, operation: Doc) -> None:
    """One RFC 6902 ``add`` or ``replace``."""
    assert operation["op"] in ("add", "replace"), f"JSON patch op {operation['op']}: extend"
    *parents, last = [
        p.replace("~1", "/").replace("~0", "~") for p in operation["path"][1:].split("/")
    ]
    node: Any = target
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    value = copy.deepcopy(operation["value"])
    if not isinstance(node, list):
        node[last] = value
    elif last == "-":
        node.append(value)
    elif operation["op"] == "add":
        node.insert(int(last), value)
    else:
        node[int(last)] = value


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


def env_of(container: Doc) -> dict[str, Doc]:
    """A container's ``env`` entries by name."""
    return {entry["name"]: entry for entry in container.get("env", [])}


def is_custom(doc: Doc) -> bool:
    """Objects of custom resources (KEDA, Prometheus Operator): no schema to validate."""
    return str(doc["apiVersion"]).startswith(("keda.sh/", "monitoring.coreos.com/"))


def label(doc: Doc) -> str:
    """kind/name, for test ids."""
    return f"{doc['kind']}/{doc['metadata']['name']}"
