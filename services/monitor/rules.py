"""Alert rules as data: one YAML file, loaded once, expanded into one ``Rule`` per severity.

The same ``Rule`` objects drive the in-process evaluator (alerts.py) and the generated
Prometheus rules (rulegen.py), so the two cannot drift apart. A malformed file stops
the monitor at start with a message naming the rule and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from services.common.settings import SettingsError
from services.monitor.signals import SIGNALS, WINDOWS

__all__ = [
    "SEVERITIES",
    "Rule",
    "RulesError",
    "default_rules_text",
    "format_duration",
    "load_rules",
    "parse_duration",
    "parse_rules",
]

SEVERITIES = ("warning", "critical")
_COMPARISONS = ("above", "below")
_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{2,63}$")
_GROUP = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RULE_KEYS = {
    "name",
    "group",
    "signal",
    "comparison",
    "warning",
    "critical",
    "for",
    "hold",
    "window",
    "min_traffic",
    "summary",
    "look_at",
}


class RulesError(SettingsError):
    """The rules file is unreadable or malformed; the message names the rule and field."""


@dataclass(frozen=True)
class Rule:
    """One alert at one severity: fires when ``signal`` is beyond ``threshold``."""

    name: str
    severity: str
    group: str
    signal: str
    comparison: str
    threshold: float
    for_s: float
    hold_s: float
    window_s: float
    min_traffic: float
    summary: str
    look_at: str

    @property
    def key(self) -> str:
        return f"{self.name}/{self.severity}"

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.comparison == "above" else value < self.threshold


def parse_duration(raw: object, where: str) -> float:
    """``90s``, ``5m``, ``1h``, ``250ms`` or a bare number of seconds."""
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
        return float(raw)
    match = _DURATION.match(str(raw).strip())
    if match is None:
        raise RulesError(f"{where}: {raw!r} is not a duration such as 90s, 5m or 1h")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def format_duration(seconds: float) -> str:
    """The Prometheus spelling of a whole number of seconds (``0s``, ``90s``, ``5m``)."""
    whole = round(seconds)
    if whole % 3600 == 0 and whole:
        return f"{whole // 3600}h"
    if whole % 60 == 0 and whole:
        return f"{whole // 60}m"
    return f"{whole}s"


def default_rules_text() -> str:
    return resources.files("services.monitor").joinpath("rules.yaml").read_text("utf-8")


def load_rules(path: str | None) -> tuple[Rule, ...]:
    """The rules of ``path`` (ALERT_RULES_FILE), or the shipped rules.yaml when None."""
    if path is None:
        return parse_rules(default_rules_text(), "rules.yaml")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise RulesError(f"ALERT_RULES_FILE {path!r} cannot be read: {exc}") from exc
    return parse_rules(text, path)


def parse_rules(text: str, source: str) -> tuple[Rule, ...]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise RulesError(f"{source}: needs a top-level 'rules' list")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise RulesError(f"{source}: 'defaults' must be a mapping")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["rules"]):
        where = f"{source}: rules[{index}]"
        if not isinstance(entry, Mapping):
            raise RulesError(f"{where}: must be a mapping")
        expanded = _expand(entry, defaults, where)
        if expanded[0].name in seen:
            raise RulesError(f"{where}: duplicate name {expanded[0].name!r}")
        seen.add(expanded[0].name)
        rules.extend(expanded)
    return tuple(rules)


def _expand(entry: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> list[Rule]:
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise RulesError(f"{where}: unknown field(s) {sorted(unknown)}")
    name = str(entry.get("name", ""))
    if not _NAME.match(name):
        raise RulesError(f"{where}.name: {name!r} must be CamelCase, 3-64 characters")
    where = f"{where} ({name})"
    group = str(entry.get("group", ""))
    if not _GROUP.match(group):
        raise RulesError(f"{where}.group: {group!r} must be lower_snake_case")
    signal = str(entry.get("signal", ""))
    if signal not in SIGNALS:
        raise RulesError(f"{where}.signal: {signal!r} is not one of {sorted(SIGNALS)}")
    comparison = str(entry.get("comparison", ""))
    if comparison not in _COMPARISONS:
        raise RulesError(f"{where}.comparison: must be 'above' or 'below'")

    def setting(key: str, fallback: object) -> object:
        return entry.get(key, defaults.get(key, fallback))

    window_s = parse_duration(setting("window", "5m"), f"{where}.window")
    if window_s not in WINDOWS:
        raise RulesError(f"{where}.window: must be one of 1m, 5m, 15m")
    for_s = parse_duration(setting("for", "1m"), f"{where}.for")
    hold_s = parse_duration(setting("hold", "2m"), f"{where}.hold")
    min_traffic = _number(setting("min_traffic", 0), f"{where}.min_traffic")
    if min_traffic < 0:
        raise RulesError(f"{where}.min_traffic: must not be negative")
    thresholds = {s: _number(entry.get(s), f"{where}.{s}") for s in SEVERITIES}
    worse = thresholds["critical"] >= thresholds["warning"]
    if worse != (comparison == "above"):
        raise RulesError(f"{where}: the critical threshold must be beyond the warning one")
    summary = str(entry.get("summary", "")).strip()
    look_at = str(entry.get("look_at", "")).strip()
    if not summary or not look_at:
        raise RulesError(f"{where}: 'summary' and 'look_at' are required")
    return [
        Rule(
            name=name,
            severity=severity,
            group=group,
            signal=signal,
            comparison=comparison,
            threshold=thresholds[severity],
            for_s=for_s,
            hold_s=hold_s,
            window_s=window_s,
            min_traffic=min_traffic,
            summary=summary,
            look_at=look_at,
        )
        for severity in SEVERITIES
    ]


def _number(raw: object, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RulesError(f"{where}: must be a number, got {raw!r}")
    return float(raw)
