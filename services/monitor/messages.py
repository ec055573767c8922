"""What a notification says: what fired, the value, the threshold, since when, what to look at."""

from __future__ import annotations

import time
from typing import Any

from services.monitor.alerts import Alert, Notification

__all__ = ["format_value", "notification_json", "render_text", "render_title"]


def format_value(signal: str, value: float) -> str:
    if signal.endswith("_ms"):
        return f"{value:,.0f} ms"
    if signal.endswith("_score"):
        return f"{value:.1f} sigma"
    return f"{value:.1%}"


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def render_title(notification: Notification) -> str:
    if notification.kind == "test":
        return f"[TEST] oppsuite test alert {notification.digest}: not a real alert"
    worst = max(notification.alerts, key=lambda a: a.rule.severity == "critical", default=None)
    severity = worst.rule.severity.upper() if worst else "INFO"
    names = sorted({a.rule.name for a in notification.alerts})
    verb = "RESOLVED" if notification.kind == "resolved" else f"FIRING {severity}"
    return f"[{verb}] oppsuite {notification.group}: {', '.join(names) or 'alerts'}"


def _alert_line(alert: Alert, kind: str) -> str:
    rule = alert.rule
    subject = ", ".join(f"{k}={v}" for k, v in sorted(alert.subject.items()))
    where = f" ({subject})" if subject else ""
    relation = "above" if rule.comparison == "above" else "below"
    value = format_value(rule.signal, alert.value)
    threshold = format_value(rule.signal, rule.threshold)
    if kind == "resolved":
        return (
            f"- RESOLVED {rule.severity} {rule.name}{where}: now {value} "
            f"(threshold {relation} {threshold}); fired at {_when(alert.firing_since)}, "
            f"resolved at {_when(alert.resolved_at or alert.last_breach)}."
        )
    return (
        f"- {rule.severity.upper()} {rule.name}{where}: {rule.summary}. "
        f"Value {value}, threshold {relation} {threshold}, over the last "
        f"{rule.window_s:.0f} s; since {_when(alert.firing_since or alert.active_since)}.\n"
        f"  Look at: {rule.look_at}"
    )


def render_text(notification: Notification) -> str:
    if notification.kind == "test":
        return _test_text(notification)
    lines = [render_title(notification)]
    lines.extend(_alert_line(a, notification.kind) for a in notification.alerts)
    return "\n".join(lines)


def _test_text(notification: Notification) -> str:
    requested_by = next((a.subject.get("requested_by", "") for a in notification.alerts), "")
    return "\n".join(
        [
            render_title(notification),
            f"- INFO: a synthetic test notification (test id {notification.digest}), sent "
            f"at {_when(notification.at)}"
            + (f" for {requested_by}" if requested_by else "")
            + " to check that alerts reach this channel. No action needed.",
        ]
    )


def notification_json(notification: Notification) -> dict[str, Any]:
    """The generic webhook body (also what the dead-letter record keeps). A test
    notification has ``status`` "test" and its id in ``test_id``."""
    test = {"test_id": notification.digest} if notification.kind == "test" else {}
    return {
        **test,
        "key": notification.key,
        "group": notification.group,
        "status": notification.kind,
        "at_unix": notification.at,
        "title": render_title(notification),
        "text": render_text(notification),
        "alerts": [
            {
                "name": a.rule.name,
                "severity": a.rule.severity,
                "state": a.state.value,
                "labels": a.labels,
                "value": a.value,
                "threshold": a.rule.threshold,
                "comparison": a.rule.comparison,
                "active_since_unix": a.active_since,
                "firing_since_unix": a.firing_since,
                "resolved_at_unix": a.resolved_at,
                "summary": a.rule.summary,
                "look_at": a.rule.look_at,
                "fingerprint": a.fingerprint,
            }
            for a in notification.alerts
        ],
    }
