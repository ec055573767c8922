"""The committed Prometheus rules, promtool tests and PrometheusRule manifest are what the
rules file generates, and Prometheus' own promtool accepts and passes them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.monitor import rulegen
from services.monitor.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (it provides promtool)")
    return binary


def test_committed_files_are_up_to_date():
    stale = rulegen.stale(ROOT, load_rules(None))
    assert stale == [], f"regenerate with: python -m services.monitor.rulegen (stale: {stale})"


def test_check_mode_fails_on_a_stale_file(tmp_path):
    for relative, content in rulegen.generate(load_rules(None)).items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(content)
    assert rulegen.main(["--check", "--root", str(tmp_path)]) == 0
    (tmp_path / rulegen.RULES_PATH).write_text("groups: []\n")
    assert rulegen.main(["--check", "--root", str(tmp_path)]) == 1


def test_manifest_carries_the_same_groups_as_the_rule_file():
    rules = yaml.safe_load((ROOT / rulegen.RULES_PATH).read_text())
    manifest = yaml.safe_load((ROOT / rulegen.MANIFEST_PATH).read_text())
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["spec"] == rules
    names = {r["alert"] for r in rules["groups"][0]["rules"]}
    assert {"HighRequestLatency", "LowCacheHitRate", "HighMemoryUsage"} <= names


def test_promtool_check_rules():
    result = subprocess.run(
        [promtool(), "check", "rules", str(ROOT / rulegen.RULES_PATH)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 22 rules found" in result.stdout


def test_promtool_test_rules():
    result = subprocess.run(
        [promtool(), "test", "rules", str(ROOT / rulegen.TESTS_PATH)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
