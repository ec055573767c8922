"""The rules file: the shipped defaults, the override, and one fixture per way to get it wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.monitor.config import Settings
from services.monitor.rules import RulesError, load_rules, parse_duration

FIXTURES = Path(__file__).parent / "rules"


def test_shipped_rules_have_the_issue_thresholds():
    rules = {r.key: r for r in load_rules(None)}
    expected = {
        "HighRequestLatency": (20_000, 30_000),
        "HighErrorRate": (0.05, 0.10),
        "LowCacheHitRate": (0.70, 0.50),
        "HighMemoryUsage": (0.80, 0.90),
        "HighPoolUtilization": (0.80, 0.95),
    }
    for name, (warning, critical) in expected.items():
        assert rules[f"{name}/warning"].threshold == warning
        assert rules[f"{name}/critical"].threshold == critical
    assert rules["LowCacheHitRate/warning"].comparison == "below"
    assert rules["StepThresholdViolations/warning"].min_traffic == 10
    latency = rules["HighRequestLatency/critical"]
    assert (latency.for_s, latency.hold_s, latency.min_traffic, latency.window_s) == (
        60.0,
        120.0,
        20.0,
        300.0,
    )


def test_alert_rules_file_overrides_the_shipped_rules(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - {name: HighErrorRate, group: errors, signal: error_rate, comparison: above,"
        " warning: 0.2, critical: 0.4, for: 0s, hold: 10s, summary: s, look_at: l}\n"
    )
    settings = Settings.from_env({"ALERT_RULES_FILE": str(path)})
    rules = load_rules(settings.rules_file)
    assert [(r.key, r.threshold, r.hold_s) for r in rules] == [
        ("HighErrorRate/warning", 0.2, 10.0),
        ("HighErrorRate/critical", 0.4, 10.0),
    ]


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("unknown_signal.yaml", "rules[0] (Something).signal: 'cpu_usage' is not one of"),
        ("critical_not_beyond_warning.yaml", "the critical threshold must be beyond the warning"),
        ("bad_duration.yaml", "rules[0] (HighErrorRate).for: 'soon' is not a duration"),
        ("bad_window.yaml", "window: must be one of 1m, 5m, 15m"),
        ("duplicate_name.yaml", "rules[1]: duplicate name 'HighErrorRate'"),
        ("missing_look_at.yaml", "'summary' and 'look_at' are required"),
        ("unknown_field.yaml", "unknown field(s) ['treshold']"),
        ("threshold_not_number.yaml", "warning: must be a number, got '5%'"),
        ("not_yaml.yaml", "not valid YAML"),
    ],
)
def test_malformed_rules_fail_naming_the_problem(fixture: str, message: str):
    with pytest.raises(RulesError) as raised:
        load_rules(str(FIXTURES / fixture))
    assert message in str(raised.value)
    assert fixture in str(raised.value)


def test_missing_rules_file_names_the_variable(tmp_path):
    with pytest.raises(RulesError, match="ALERT_RULES_FILE"):
        load_rules(str(tmp_path / "absent.yaml"))


@pytest.mark.parametrize(("raw", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), (0, 0)])
def test_durations(raw: object, seconds: float):
    assert parse_duration(raw, "x") == seconds
