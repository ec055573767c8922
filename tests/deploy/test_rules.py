"""The recording rules the dashboard reads: promtool accepts them and their unit tests pass
(percentiles from buckets summed across replicas, error ratios that exist at zero)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.deploy.k8s import ROOT

RULES = ROOT / "deploy" / "prometheus"


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed (Debian: apt-get install prometheus)")
    return binary


def test_promtool_checks_the_recording_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES / "recording-rules.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_promtool_unit_tests_of_the_recording_rules_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "recording-rules.test.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=RULES,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
