"""Every overlay and every combination of components renders, and the output passes strict
schema validation for the oldest and the newest Kubernetes version we support."""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from tests.deploy.k8s import (
    COMPONENTS,
    K8S,
    OVERLAYS,
    Doc,
    all_component_sets,
    of_kind,
    render_combination,
    render_dir,
)

# Oldest and newest Kubernetes versions the manifests target (autoscaling/v2, policy/v1
# and native gRPC probes, on by default since 1.24, exist in all of them).
VERSIONS = ("1.25.0", "1.37.0")
# Custom resources of the Prometheus Operator: no schema ships with kubernetes-validate.
# They are checked structurally in test_policy.py (and their rules by promtool) instead.
_HASHED_NAME = re.compile(r"\b(oppsuite-config|gateway-api-keys)-[a-z0-9]{10}\b")
CRDS_WITHOUT_SCHEMA = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def validate_strict(docs: list[Doc], version: str) -> list[str]:
    problems = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRDS_WITHOUT_SCHEMA:
            continue
        # Generated names differ per combination only by their content hash, which no
        # schema looks at: without it, identical documents are validated once.
        text = _HASHED_NAME.sub(r"\1", json.dumps(doc, sort_keys=True))
        problem = _validate_one(text, version)
        if problem:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {problem}")
    return problems


@functools.cache
def _validate_one(doc_json: str, version: str) -> str:
    """Most documents are identical across combinations: validate each one once."""
    doc = json.loads(doc_json)
    try:
        kubernetes_validate.validate(doc, version, True)
    except SchemaNotFoundError:
        return f"no schema for {doc['apiVersion']} in {version}"
    except kubernetes_validate.ValidationError as exc:
        return f"{exc.message} at {list(exc.path)}"
    return ""


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", VERSIONS)
def test_overlay_renders_and_validates(overlay: str, version: str) -> None:
    docs = render_dir(K8S / "overlays" / overlay)
    assert of_kind(docs, "Deployment"), "an overlay without Deployments"
    assert validate_strict(docs, version) == []


def test_every_component_combination_renders_and_validates(tmp_path: Path) -> None:
    combos = list(all_component_sets())
    assert len(combos) == 2 ** len(COMPONENTS)
    failures: dict[str, list[str]] = {}
    for i, combo in enumerate(combos):
        docs = render_combination(tmp_path / str(i), combo)
        for version in VERSIONS:
            problems = validate_strict(docs, version)
            if problems:
                failures[f"{'+'.join(combo) or 'base'} @ {version}"] = problems
    assert failures == {}


def test_strict_validation_rejects_a_broken_manifest() -> None:
    """The validator is really strict: an unknown field and a wrong type are both caught."""
    docs = render_dir(K8S / "overlays" / "dev")
    unknown_field = copy.deepcopy(of_kind(docs, "Deployment")[0])
    unknown_field["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    wrong_type = copy.deepcopy(of_kind(docs, "Deployment")[0])
    wrong_type["spec"]["replicas"] = "two"
    assert "livenessProbes" in " ".join(validate_strict([unknown_field], VERSIONS[0]))
    assert "replicas" in " ".join(validate_strict([wrong_type], VERSIONS[-1]))


def test_only_the_named_custom_resources_lack_a_schema() -> None:
    """Skipping CRDs must not hide a typo in a built-in kind's apiVersion."""
    docs = render_dir(K8S / "overlays" / "prod")
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, True)
            except SchemaNotFoundError:
                assert key in CRDS_WITHOUT_SCHEMA, key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_validate_cli_accepts_the_overlay(overlay: str, tmp_path: Path) -> None:
    cli = shutil.which("kubernetes-validate") or str(
        Path(sys.executable).with_name("kubernetes-validate")
    )
    docs = [
        d
        for d in render_dir(K8S / "overlays" / overlay)
        if (d["apiVersion"], d["kind"]) not in CRDS_WITHOUT_SCHEMA
    ]
    path = tmp_path / f"{overlay}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    for version in VERSIONS:
        result = subprocess.run(
            [cli, "--strict", "--quiet", "-k", version, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
