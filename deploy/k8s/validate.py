"""`make lint`: every kustomization renders with `kubectl kustomize`, every object validates.

Renders deploy/k8s/base and each folder of deploy/k8s/overlays with kubectl's built-in
kustomize, then validates every rendered object with kubernetes-validate (strict:
unknown fields are errors) against Kubernetes KUBERNETES_VERSION. Objects of custom
resources (KEDA, the Prometheus Operator) have no schema there: the unit tests
(tests/unit/test_deploy_k8s.py) check their fields. Without kubectl the check says
so and passes (the unit tests still validate the Python rendering).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import yaml

K8S = Path(__file__).resolve().parent
KUBERNETES_VERSION = "1.31.0"
CUSTOM_GROUPS = ("keda.sh/", "monitoring.coreos.com/")


def kustomizations() -> list[Path]:
    """The base and every overlay."""
    return [
        K8S / "base",
        *sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml")),
    ]


def render(kubectl: str, folder: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize folder``'s objects."""
    output = subprocess.run(  # noqa: S603 - kubectl from PATH, our own folder
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def problems(docs: list[dict[str, Any]]) -> list[str]:
    """One line per object kubernetes-validate rejects."""
    found = []
    for doc in docs:
        if str(doc.get("apiVersion", "")).startswith(CUSTOM_GROUPS):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            found.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    return found


def main() -> int:
    """Render and validate every kustomization; non-zero on the first broken one."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("validate.py: kubectl not installed: kustomize rendering not checked")  # noqa: T201
        return 0
    failed = False
    for folder in kustomizations():
        name = folder.relative_to(K8S)
        try:
            docs = render(kubectl, folder)
        except subprocess.CalledProcessError as exc:
            print(f"{name}: kubectl kustomize failed:\n{exc.stderr}", file=sys.stderr)  # noqa: T201
            failed = True
            continue
        found = problems(docs)
        for problem in found:
            print(f"{name}: {problem}", file=sys.stderr)  # noqa: T201
        failed = failed or bool(found)
        print(f"{name}: {len(docs)} objects rendered, {len(found)} invalid")  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
