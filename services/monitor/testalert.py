"""Synthetic test notifications: proof that alerts reach each channel.

A test notification is built here, not by the alert engine: it is never listed as an
alert, never counted in alert metrics and never silenced or inhibited (silences mute
a rule's alerts; a test checks a channel, and the operator asked for it). It goes
through the same channel workers as real notifications (claim, pacing, retries with
backoff and Retry-After, dead letter, delivery counters), each worker reporting its
outcome in a ``Delivery``. It carries a unique id (``test_id`` in the webhook JSON,
in the title elsewhere), severity ``info`` and the kind ``test``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from services.common.errors import FailedPrecondition, FieldViolation, InvalidInput
from services.monitor.alerts import Alert, Notification, State
from services.monitor.dispatch import Delivery, Dispatcher
from services.monitor.rules import Rule

__all__ = [
    "CHANNEL_SETTINGS",
    "TEST_RULE",
    "AlertTestResult",
    "ChannelOutcome",
    "make_test_notification",
    "send_test_alert",
]

# Every channel name the monitor knows, and the variable that turns it on.
CHANNEL_SETTINGS: Mapping[str, str] = {
    "slack": "PERFORMANCE_ALERTS_SLACK_WEBHOOK",
    "webhook": "PERFORMANCE_ALERTS_WEBHOOK",
    "email": "PERFORMANCE_ALERTS_EMAIL",
    "sns": "PERFORMANCE_ALERTS_TOPIC_ARN",
    "cloudwatch": "PERFORMANCE_ALERTS_CLOUDWATCH",
}

TEST_RULE = Rule(
    name="OppsuiteTestAlert",
    severity="info",
    group="test",
    signal="test",
    comparison="above",
    threshold=0.0,
    for_s=0.0,
    hold_s=0.0,
    window_s=0.0,
    min_traffic=0.0,
    summary="synthetic test notification, not a real alert",
    look_at="nothing: this only checks that alerts reach this channel",
)


def make_test_notification(test_id: str, at: float, requested_by: str = "") -> Notification:
    subject = {"test_id": test_id, **({"requested_by": requested_by} if requested_by else {})}
    alert = Alert(
        TEST_RULE,
        subject,
        f"test-{test_id}",
        State.FIRING,
        0.0,
        at,
        at,
        firing_since=at,
    )
    return Notification("test", "test", (alert,), at, test_id)


@dataclass(frozen=True)
class ChannelOutcome:
    channel: str
    delivered: bool
    attempts: int
    latency_s: float  # from the request to the outcome, or to the end of the wait
    error: str
    pending: bool  # still queued or retrying when the wait ended


@dataclass(frozen=True)
class AlertTestResult:
    test_id: str
    sent_at: float
    outcomes: tuple[ChannelOutcome, ...]


def _chosen(configured: Sequence[str], requested: Sequence[str]) -> list[str]:
    """The channels to test, or the error that explains why there are none."""
    unknown = [
        FieldViolation(
            f"channels[{i}]", f"unknown channel {name!r}; known: {', '.join(CHANNEL_SETTINGS)}"
        )
        for i, name in enumerate(requested)
        if name not in CHANNEL_SETTINGS
    ]
    if unknown:
        raise InvalidInput(unknown)
    if not configured:
        raise FailedPrecondition(
            "no alert channel is configured: set one of "
            + ", ".join(CHANNEL_SETTINGS.values())
            + " (e.g. PERFORMANCE_ALERTS_WEBHOOK=https://...)"
        )
    missing = [name for name in dict.fromkeys(requested) if name not in configured]
    if missing:
        raise FailedPrecondition(
            "; ".join(f"channel {n} is not configured: set {CHANNEL_SETTINGS[n]}" for n in missing)
        )
    return list(dict.fromkeys(requested)) or list(configured)


def _outcome(delivery: Delivery, now: float) -> ChannelOutcome:
    finished = delivery.finished.is_set()
    end = delivery.finished_at if finished and delivery.finished_at is not None else now
    error = delivery.error
    if not finished:
        error = f"no outcome yet: {error}" if error else "no outcome yet (queued or sending)"
    return ChannelOutcome(
        channel=delivery.channel,
        delivered=delivery.delivered,
        attempts=delivery.attempts,
        latency_s=max(0.0, end - delivery.queued_at),
        error=error,
        pending=not finished,
    )


async def send_test_alert(
    dispatcher: Dispatcher | None,
    channels: Sequence[str],
    *,
    wait_s: float,
    clock: Callable[[], float],
    monotonic: Callable[[], float],
    requested_by: str = "",
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16],
) -> AlertTestResult:
    """Queue one test notification on ``channels`` (empty = every configured one) and
    wait up to ``wait_s`` for each channel's outcome. ``clock`` is wall time (the
    notification's timestamp), ``monotonic`` the workers' clock (latencies)."""
    configured = dispatcher.channel_names if dispatcher is not None else []
    names = _chosen(configured, channels)
    assert dispatcher is not None  # _chosen raised when nothing is configured
    test_id, at = new_id(), clock()
    deliveries = dispatcher.submit(make_test_notification(test_id, at, requested_by), names)
    waits = [asyncio.create_task(d.finished.wait()) for d in deliveries]
    _, not_done = await asyncio.wait(waits, timeout=max(0.0, wait_s))
    for task in not_done:
        task.cancel()
    now = monotonic()
    return AlertTestResult(test_id, at, tuple(_outcome(d, now) for d in deliveries))
