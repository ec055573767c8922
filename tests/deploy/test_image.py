"""The Dockerfile, linted (no container engine is needed): multi-stage, pinned base, no
build tools in the final stage, non-root, an entrypoint that runs any of the services."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from tests.deploy.k8s import ROOT, SERVICES

PINNED_BASE = re.compile(r"^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})$")
BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "git", "curl", "wget")


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def build_args() -> dict[str, str]:
    return dict(
        rest.split("=", 1) for keyword, rest in instructions() if keyword == "ARG" and "=" in rest
    )


def resolve(image: str) -> str:
    for name, value in build_args().items():
        image = image.replace("${" + name + "}", value)
    return image


def test_multi_stage_build_with_a_pinned_base() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    for stage in all_stages:
        image = resolve(stage[0][1].split()[0])
        if image in {s[0][1].split()[-1] for s in all_stages}:
            continue  # FROM an earlier stage
        assert PINNED_BASE.match(image), f"base image not pinned to an exact version: {image}"
        assert not image.endswith(":latest")


def test_final_stage_has_no_build_tools_and_copies_from_the_build() -> None:
    final = stages()[-1]
    for keyword, rest in final:
        if keyword == "RUN":
            assert "apt-get install" not in rest and "pip install" not in rest, rest
            for tool in BUILD_TOOLS:
                assert not re.search(rf"\b{re.escape(tool)}\b", rest), rest
    assert any(k == "COPY" and "--from=build" in r for k, r in final)


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [rest for keyword, rest in stages()[-1] if keyword == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "runAsNonRoot needs a numeric non-zero uid"
    # The manifests run as the same uid.
    assert f"runAsUser: {uid}" in (ROOT / "deploy/k8s/base/gateway.yaml").read_text()


def test_entrypoint_is_exec_form_and_runs_a_service() -> None:
    final = dict((k, r) for k, r in stages()[-1] if k in {"ENTRYPOINT", "CMD"})
    entrypoint = json.loads(final["ENTRYPOINT"])
    assert entrypoint == ["python", "-m", "services.ops.serve"]
    assert json.loads(final["CMD"])[0] in SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_module_exists(service: str) -> None:
    assert importlib.util.find_spec(f"services.{service}.__main__") is not None


def test_entrypoint_refuses_an_unknown_service_with_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.ops.serve", "frontend"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "gateway|cache|analysis|monitor" in result.stderr
    assert "Traceback" not in result.stderr


def test_entrypoint_starts_the_named_service() -> None:
    """A bad setting makes the service exit at start with its own message: proof that the
    entrypoint ran the service module, without binding any port."""
    result = subprocess.run(
        [sys.executable, "-m", "services.ops.serve", "cache"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CACHE_PORT": "not-a-port"},
    )
    assert result.returncode != 0
    assert "CACHE_PORT" in result.stdout + result.stderr


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines, "deny everything, then allow what the build copies"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "services"}
    copied = {
        rest.split()[0].rstrip("/")
        for keyword, rest in instructions()
        if keyword == "COPY" and not rest.startswith("--from")
    }
    for source in copied:
        assert source.split("/")[0] in allowed or source in allowed, source
