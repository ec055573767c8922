"""Rendering helpers: `kubectl kustomize` on the real tree, or on a throwaway kustomization
that combines the base with any set of components."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
COMPONENTS = tuple(sorted(p.name for p in (K8S / "components").iterdir() if p.is_dir()))
SERVICES = ("gateway", "cache", "analysis", "monitor")
GRPC_PORTS = {"gateway": 50051, "cache": 50052, "analysis": 50053, "monitor": 50054}
METRICS_PORTS = {"gateway": 9101, "cache": 9102, "analysis": 9103, "monitor": 9104}

Doc = dict[str, Any]


def kubectl() -> str:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.fail(
            "kubectl is not installed: the deployment tests render the manifests with "
            "`kubectl kustomize` (install kubectl >= 1.27, which bundles kustomize)"
        )
    return binary


def render_dir(path: Path) -> list[Doc]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_combination(workdir: Path, components: Sequence[str]) -> list[Doc]:
    """The base plus the given components, through a kustomization written in workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    rel = Path(os.path.relpath(K8S, workdir))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "oppsuite-test",
        "resources": [str(rel / "base")],
        "components": [str(rel / "components" / c) for c in components],
    }
    (workdir / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return render_dir(workdir)


def all_component_sets() -> Iterator[tuple[str, ...]]:
    for size in range(len(COMPONENTS) + 1):
        yield from itertools.combinations(COMPONENTS, size)


def of_kind(docs: Sequence[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: Sequence[Doc], kind: str, name: str) -> Doc:
    for doc in of_kind(docs, kind):
        if doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} named {name}")


def containers(deployment: Doc) -> list[Doc]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def env_of(container: Doc) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def labels_match(selector: Doc, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
