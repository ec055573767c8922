"""Alert lifecycle, inhibition, silences and grouping, on an injected clock.

Per rule and subject (the labels a signal yields, e.g. ``pool=bedrock``):

    inactive ─breach─► PENDING ─held for `for`─► FIRING ─clear for `hold`─► RESOLVED
                          └──────clear──────► (dropped; never notified)

Traffic below a rule's ``min_traffic`` counts as clear, so a quiet system resolves
instead of alerting on three requests. A critical alert inhibits the warning of the
same name and subject. Silences mute matching alerts.

Notifications are per group (the rule's ``group``): one when the group's set of
notifiable alerts (firing, not muted) gains an alert, again every ``repeat_cooldown_s``
while it keeps firing, and "resolved" in the very evaluation in which the group's
last firing alert resolves (the per-alert hold already waited; nothing more is added).
Each notification carries a digest of its alert set, identical on every replica that
sees the same data, from which the cross-replica claim key is built.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from services.monitor.rules import Rule
from services.monitor.signals import Sample
from services.monitor.silences import Silences

__all__ = ["Alert", "AlertChange", "AlertEngine", "Evaluation", "Notification", "State"]


class State(enum.Enum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(rule: Rule, subject: Mapping[str, str]) -> str:
    text = "\x1f".join(
        [rule.name, rule.severity, *(f"{k}={v}" for k, v in sorted(subject.items()))]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    rule: Rule
    subject: Mapping[str, str]
    fingerprint: str
    state: State
    value: float
    active_since: float
    last_breach: float
    firing_since: float = 0.0
    resolved_at: float = 0.0
    silenced_by: tuple[str, ...] = ()
    inhibited: bool = False

    @property
    def labels(self) -> dict[str, str]:
        return {
            "alertname": self.rule.name,
            "severity": self.rule.severity,
            "group": self.rule.group,
            **self.subject,
        }

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by) or self.inhibited


@dataclass(frozen=True)
class AlertChange:
    alert: Alert
    previous: State | None
    at: float


@dataclass(frozen=True)
class Notification:
    group: str
    kind: str  # "firing" or "resolved"
    alerts: tuple[Alert, ...]
    at: float
    digest: str  # of the alert set; equal on every replica that saw the same alerts

    @property
    def key(self) -> str:
        return f"{self.group}:{self.kind}:{self.digest}"


@dataclass(frozen=True)
class Evaluation:
    changes: list[AlertChange] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


@dataclass
class _Group:
    notified: frozenset[str] = frozenset()
    sent_at: float = 0.0
    firing: bool = False


def _digest(alerts: Sequence[Alert]) -> str:
    joined = ",".join(sorted(a.fingerprint for a in alerts))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


class AlertEngine:
    def __init__(
        self,
        rules: Sequence[Rule],
        clock: Callable[[], float],
        silences: Silences,
        *,
        repeat_cooldown_s: float = 300.0,
        resolved_retention_s: float = 3_600.0,
        max_alerts: int = 2_000,
    ) -> None:
        self.rules = tuple(rules)
        self._clock = clock
        self.silences = silences
        self._cooldown_s = repeat_cooldown_s
        self._retention_s = resolved_retention_s
        self._max_alerts = max_alerts
        self._alerts: dict[str, Alert] = {}
        self._groups: dict[str, _Group] = {}
        self.dropped_alerts = 0

    def alerts(self, *, include_resolved: bool = False) -> list[Alert]:
        found = [a for a in self._alerts.values() if include_resolved or a.state != State.RESOLVED]
        return sorted(
            found, key=lambda a: (a.rule.group, a.rule.name, a.rule.severity, a.fingerprint)
        )

    def evaluate(self, samples: Mapping[str, Sequence[Sample]]) -> Evaluation:
        """One evaluation: ``samples`` by rule key (``Rule.key``) → changes and notifications."""
        now = self._clock()
        result = Evaluation()
        for rule in self.rules:
            self._evaluate_rule(rule, samples.get(rule.key, ()), now, result.changes)
        self._forget_old(now)
        self._mark_muted()
        result.notifications.extend(self._notifications(now))
        return result

    def _evaluate_rule(
        self, rule: Rule, samples: Sequence[Sample], now: float, changes: list[AlertChange]
    ) -> None:
        breaching: dict[str, Sample] = {}
        values: dict[str, float] = {}
        for sample in samples:
            fp = fingerprint(rule, sample.labels)
            values[fp] = sample.value
            if sample.traffic >= rule.min_traffic and rule.breached(sample.value):
                breaching[fp] = sample
        for fp, sample in breaching.items():
            self._on_breach(rule, fp, sample, now, changes)
        for fp, alert in list(self._alerts.items()):
            if alert.rule is rule and fp not in breaching:
                self._on_clear(alert, values.get(fp, alert.value), now, changes)

    def _on_breach(
        self, rule: Rule, fp: str, sample: Sample, now: float, changes: list[AlertChange]
    ) -> None:
        alert = self._alerts.get(fp)
        if alert is None or alert.state == State.RESOLVED:
            if alert is None and len(self._alerts) >= self._max_alerts:
                self.dropped_alerts += 1
                return
            alert = Alert(rule, dict(sample.labels), fp, State.PENDING, sample.value, now, now)
            self._alerts[fp] = alert
            changes.append(AlertChange(alert, None, now))
        alert = replace(alert, value=sample.value, last_breach=now)
        if alert.state == State.PENDING and now - alert.active_since >= rule.for_s:
            alert = replace(alert, state=State.FIRING, firing_since=now)
            changes.append(AlertChange(alert, State.PENDING, now))
        self._alerts[fp] = alert

    def _on_clear(self, alert: Alert, value: float, now: float, changes: list[AlertChange]) -> None:
        if alert.state == State.PENDING:
            del self._alerts[alert.fingerprint]
            gone = replace(alert, value=value, state=State.RESOLVED, resolved_at=now)
            changes.append(AlertChange(gone, State.PENDING, now))
        elif alert.state == State.FIRING:
            alert = replace(alert, value=value)
            if now - alert.last_breach >= alert.rule.hold_s:
                alert = replace(alert, state=State.RESOLVED, resolved_at=now)
                changes.append(AlertChange(alert, State.FIRING, now))
            self._alerts[alert.fingerprint] = alert

    def _forget_old(self, now: float) -> None:
        for fp, alert in list(self._alerts.items()):
            if alert.state == State.RESOLVED and now - alert.resolved_at > self._retention_s:
                del self._alerts[fp]

    def _mark_muted(self) -> None:
        critical = {
            (a.rule.name, tuple(sorted(a.subject.items())))
            for a in self._alerts.values()
            if a.state == State.FIRING and a.rule.severity == "critical"
        }
        for fp, alert in self._alerts.items():
            subject = (alert.rule.name, tuple(sorted(alert.subject.items())))
            inhibited = alert.rule.severity == "warning" and subject in critical
            silenced = self.silences.muting(alert.labels) if alert.state != State.RESOLVED else ()
            if (inhibited, silenced) != (alert.inhibited, alert.silenced_by):
                self._alerts[fp] = replace(alert, inhibited=inhibited, silenced_by=silenced)

    def _notifications(self, now: float) -> list[Notification]:
        by_group: dict[str, list[Alert]] = {}
        for alert in self._alerts.values():
            by_group.setdefault(alert.rule.group, []).append(alert)
        out: list[Notification] = []
        for group in sorted(by_group.keys() | self._groups.keys()):
            members = by_group.get(group, [])
            state = self._groups.setdefault(group, _Group())
            firing = [a for a in members if a.state == State.FIRING]
            loud = sorted((a for a in firing if not a.muted), key=lambda a: a.fingerprint)
            ids = frozenset(a.fingerprint for a in loud)
            if loud:
                # Only an alert that breaches now is news: a warning left over after its
                # critical resolved (firing only through its hold) does not re-notify.
                fresh = not state.firing or any(
                    a.fingerprint not in state.notified and a.last_breach == now for a in loud
                )
                if fresh or now - state.sent_at >= self._cooldown_s:
                    out.append(Notification(group, "firing", tuple(loud), now, _digest(loud)))
                    state.notified, state.sent_at, state.firing = ids, now, True
            elif not firing and state.firing:
                resolved = tuple(a for a in members if a.fingerprint in state.notified)
                digest = hashlib.sha256(",".join(sorted(state.notified)).encode()).hexdigest()[:16]
                out.append(Notification(group, "resolved", resolved, now, digest))
                self._groups[group] = _Group()
        return out
