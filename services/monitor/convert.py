"""Protobuf <-> domain for the monitor, and the validation that keeps it safe from senders.

A buggy or hostile sender must not be able to grow the monitor's memory or poison
its numbers, so a report is rejected whole (InvalidInput) when it has no identity,
too many series, unbounded labels, impossible histograms, negative or non-finite
counter deltas, or non-finite gauges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import monitor_pb2, types_pb2
from services.monitor.aggregator import (
    HistogramSeries,
    LatencyStats,
    MetricValue,
    PerformanceSnapshot,
    Report,
)
from services.monitor.alerts import Alert, AlertChange, State
from services.monitor.cost import CostSummary
from services.monitor.silences import Matcher, Silence
from services.monitor.sketch import LogHistogram

__all__ = [
    "MAX_ID_CHARS",
    "MAX_LABELS",
    "MAX_LABEL_CHARS",
    "MAX_SERIES_PER_REPORT",
    "alert_to_proto",
    "change_to_proto",
    "cost_to_proto",
    "histogram_from_delta",
    "histogram_to_delta",
    "latency_to_proto",
    "matchers_from_proto",
    "performance_from_proto",
    "performance_to_proto",
    "report_from_proto",
    "silence_to_proto",
]

MAX_SERIES_PER_REPORT = 2_000
MAX_LABELS = 8
MAX_LABEL_CHARS = 128  # names and values of labels, and metric names
MAX_ID_CHARS = 256  # service and instance
_MAX_VIOLATIONS = 20  # enough to diagnose a sender; keeps the error message small


def histogram_to_delta(
    name: str, labels: Mapping[str, str], histogram: LogHistogram
) -> monitor_pb2.HistogramDelta:
    return monitor_pb2.HistogramDelta(
        name=name,
        labels=dict(labels),
        buckets=histogram.buckets,
        zero_count=histogram.zero_count,
        sum=histogram.sum,
        count=histogram.count,
        max=histogram.max,
    )


def histogram_from_delta(delta: monitor_pb2.HistogramDelta) -> HistogramSeries:
    """The delta as a series; InvalidInput when it is not a possible histogram."""
    violations: list[FieldViolation] = []
    series = _histogram(delta, "histogram", violations)
    if series is None or violations:
        raise InvalidInput(violations)
    return series


def report_from_proto(message: monitor_pb2.MetricReport) -> Report:
    """A validated Report; InvalidInput naming every (up to 20) offending field."""
    series = len(message.histograms) + len(message.counters) + len(message.gauges)
    if series > MAX_SERIES_PER_REPORT:
        # Checked first so an oversized report costs nothing more to reject.
        raise InvalidInput(
            [FieldViolation("series", f"{series} series; at most {MAX_SERIES_PER_REPORT}")]
        )
    violations = _identity_violations(message)
    histograms = [
        h
        for i, delta in enumerate(message.histograms)
        if (h := _histogram(delta, f"histograms[{i}]", violations)) is not None
    ]
    counters = [
        MetricValue(c.name, dict(c.labels), c.value)
        for i, c in enumerate(message.counters)
        if _metric_ok(c, f"counters[{i}]", violations, counter=True)
    ]
    gauges = [
        MetricValue(g.name, dict(g.labels), g.value)
        for i, g in enumerate(message.gauges)
        if _metric_ok(g, f"gauges[{i}]", violations, counter=False)
    ]
    if violations:
        raise InvalidInput(violations[:_MAX_VIOLATIONS])
    return Report(
        message.service, message.instance, message.sent_at_unix, histograms, counters, gauges
    )


def _identity_violations(message: monitor_pb2.MetricReport) -> list[FieldViolation]:
    violations = []
    for name, value in (("service", message.service), ("instance", message.instance)):
        if not value.strip():
            violations.append(FieldViolation(name, "must not be empty"))
        elif len(value) > MAX_ID_CHARS:
            violations.append(FieldViolation(name, f"longer than {MAX_ID_CHARS} characters"))
    if not math.isfinite(message.sent_at_unix):
        violations.append(FieldViolation("sent_at_unix", "must be finite"))
    return violations


def _histogram(
    delta: monitor_pb2.HistogramDelta, where: str, violations: list[FieldViolation]
) -> HistogramSeries | None:
    if not _series_id_ok(delta.name, delta.labels, where, violations):
        return None
    try:
        histogram = LogHistogram.from_parts(
            delta.buckets, zero_count=delta.zero_count, total=delta.sum, max_value=delta.max
        )
    except ValueError as exc:
        violations.append(FieldViolation(where, str(exc)))
        return None
    if histogram.count != delta.count:
        violations.append(
            FieldViolation(f"{where}.count", f"{delta.count} != {histogram.count} in buckets")
        )
        return None
    return HistogramSeries(delta.name, dict(delta.labels), histogram)


def _metric_ok(
    metric: monitor_pb2.CounterDelta | monitor_pb2.GaugeValue,
    where: str,
    violations: list[FieldViolation],
    *,
    counter: bool,
) -> bool:
    if not _series_id_ok(metric.name, metric.labels, where, violations):
        return False
    if not math.isfinite(metric.value):
        violations.append(FieldViolation(f"{where}.value", "must be finite"))
        return False
    if counter and metric.value < 0:
        violations.append(FieldViolation(f"{where}.value", "a counter delta must not be negative"))
        return False
    return True


def _series_id_ok(
    name: str, labels: Mapping[str, str], where: str, violations: list[FieldViolation]
) -> bool:
    problem = None
    if not name or len(name) > MAX_LABEL_CHARS:
        problem = FieldViolation(f"{where}.name", f"must have 1-{MAX_LABEL_CHARS} characters")
    elif len(labels) > MAX_LABELS:
        problem = FieldViolation(f"{where}.labels", f"at most {MAX_LABELS} labels")
    elif any(len(k) > MAX_LABEL_CHARS or len(v) > MAX_LABEL_CHARS for k, v in labels.items()):
        problem = FieldViolation(f"{where}.labels", f"longer than {MAX_LABEL_CHARS} characters")
    if problem is not None:
        violations.append(problem)
    return problem is None


def latency_to_proto(stats: LatencyStats) -> types_pb2.LatencySummary:
    return types_pb2.LatencySummary(
        count=stats.count,
        p50_ms=stats.p50,
        p90_ms=stats.p90,
        p95_ms=stats.p95,
        p99_ms=stats.p99,
        mean_ms=stats.mean,
        max_ms=stats.max,
    )


def _latency_from_proto(summary: types_pb2.LatencySummary) -> LatencyStats:
    return LatencyStats(
        summary.count,
        summary.p50_ms,
        summary.p90_ms,
        summary.p95_ms,
        summary.p99_ms,
        summary.mean_ms,
        summary.max_ms,
    )


def performance_to_proto(snapshot: PerformanceSnapshot) -> types_pb2.PerformanceReport:
    return types_pb2.PerformanceReport(
        window_seconds=snapshot.window_seconds,
        request_count=snapshot.request_count,
        error_count=snapshot.error_count,
        error_rate=snapshot.error_rate,
        cache_hit_rate=snapshot.cache_hit_rate,
        total_latency=latency_to_proto(snapshot.total_latency),
        step_latency={k: latency_to_proto(v) for k, v in snapshot.step_latency.items()},
        cache_hit_rate_by_tier=snapshot.cache_hit_rate_by_tier,
        pool_utilization=snapshot.pool_utilization,
        in_flight=snapshot.in_flight,
        queued=snapshot.queued,
        rejections_by_reason=snapshot.rejections_by_reason,
        memory_rss_bytes=snapshot.memory_rss_bytes,
        recommendations=list(snapshot.recommendations),
        generated_at_unix=snapshot.generated_at,
        reporting_instances=snapshot.reporting_instances,
        step_threshold_violations=snapshot.step_threshold_violations,
    )


def performance_from_proto(message: types_pb2.PerformanceReport) -> PerformanceSnapshot:
    """The snapshot a PerformanceReport carries (``memory_limit_bytes`` is not on the wire)."""
    return PerformanceSnapshot(
        window_seconds=message.window_seconds,
        request_count=message.request_count,
        error_count=message.error_count,
        error_rate=message.error_rate,
        cache_hit_rate=message.cache_hit_rate,
        total_latency=_latency_from_proto(message.total_latency),
        step_latency={k: _latency_from_proto(v) for k, v in message.step_latency.items()},
        cache_hit_rate_by_tier=dict(message.cache_hit_rate_by_tier),
        pool_utilization=dict(message.pool_utilization),
        in_flight=message.in_flight,
        queued=message.queued,
        rejections_by_reason=dict(message.rejections_by_reason),
        memory_rss_bytes=dict(message.memory_rss_bytes),
        memory_limit_bytes={},
        step_threshold_violations=dict(message.step_threshold_violations),
        reporting_instances=message.reporting_instances,
        generated_at=message.generated_at_unix,
        recommendations=tuple(message.recommendations),
    )


_STATE_TO_PROTO = {
    State.PENDING: monitor_pb2.ALERT_STATE_PENDING,
    State.FIRING: monitor_pb2.ALERT_STATE_FIRING,
    State.RESOLVED: monitor_pb2.ALERT_STATE_RESOLVED,
}
_SEVERITY_TO_PROTO = {
    "warning": monitor_pb2.SEVERITY_WARNING,
    "critical": monitor_pb2.SEVERITY_CRITICAL,
}


def alert_to_proto(alert: Alert) -> monitor_pb2.Alert:
    rule = alert.rule
    return monitor_pb2.Alert(
        fingerprint=alert.fingerprint,
        name=rule.name,
        severity=_SEVERITY_TO_PROTO[rule.severity],
        state=_STATE_TO_PROTO[alert.state],
        group=rule.group,
        labels=alert.labels,
        value=alert.value,
        threshold=rule.threshold,
        comparison=rule.comparison,
        active_since_unix=alert.active_since,
        firing_since_unix=alert.firing_since,
        resolved_at_unix=alert.resolved_at,
        summary=rule.summary,
        look_at=rule.look_at,
        silenced_by=list(alert.silenced_by),
        inhibited=alert.inhibited,
    )


def change_to_proto(change: AlertChange) -> monitor_pb2.AlertEvent:
    previous = (
        monitor_pb2.ALERT_STATE_UNSPECIFIED
        if change.previous is None
        else _STATE_TO_PROTO[change.previous]
    )
    return monitor_pb2.AlertEvent(
        alert=alert_to_proto(change.alert), previous=previous, at_unix=change.at
    )


def matchers_from_proto(matchers: Iterable[monitor_pb2.Matcher]) -> list[Matcher]:
    return [Matcher(m.name, m.value, m.regex) for m in matchers]


def silence_to_proto(silence: Silence) -> monitor_pb2.Silence:
    return monitor_pb2.Silence(
        id=silence.id,
        matchers=[
            monitor_pb2.Matcher(name=m.name, value=m.value, regex=m.regex) for m in silence.matchers
        ],
        starts_at_unix=silence.starts_at,
        ends_at_unix=silence.ends_at,
        author=silence.author,
        reason=silence.reason,
    )


def cost_to_proto(summary: CostSummary, generated_at: float) -> monitor_pb2.CostReport:
    return monitor_pb2.CostReport(
        day=summary.day,
        month=summary.month,
        total_usd_day=summary.total_day,
        total_usd_month=summary.total_month,
        by_client_usd_day=summary.by_client_day,
        by_client_usd_month=summary.by_client_month,
        daily_budget_usd=summary.daily_budget_usd,
        monthly_budget_usd=summary.monthly_budget_usd,
        daily_budget_used=summary.daily_used,
        monthly_budget_used=summary.monthly_used,
        avoided_usd_day=sum(summary.avoided_by_source_day.values()),
        avoided_usd_month=sum(summary.avoided_by_source_month.values()),
        avoided_by_source_usd_month=summary.avoided_by_source_month,
        generated_at_unix=generated_at,
    )
