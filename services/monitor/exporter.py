"""The merged, cross-replica view on the monitor's /metrics.

The view is prepared on the event loop at every evaluation (``MonitorCore.exported``)
and only read here, in the metrics server's thread; it is at most one evaluation
interval old. Before the first evaluation only the notification metrics are shown.

Percentiles are exported as gauges per window (``window`` = 1m, 5m, 15m), computed
from the merged sketches, never averaged across replicas. Every label value that a
sender chooses (step, pool, tier, reason, service, client, source) is capped at
``MAX_LABEL_VALUES`` per metric, so a misbehaving sender cannot explode the series
count. The names here are what the generated Prometheus rules read (signals.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from services.monitor.aggregator import LatencyStats
from services.monitor.alerts import State
from services.monitor.claims import RedisClaimer
from services.monitor.core import ExportView, MonitorCore
from services.monitor.signals import WINDOWS

__all__ = ["MAX_LABEL_VALUES", "MonitorCollector"]

MAX_LABEL_VALUES = 50
_QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.95", "p95"), ("0.99", "p99"))


def _bounded(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(values.items())[:MAX_LABEL_VALUES]


def _quantiles(family: GaugeMetricFamily, labels: list[str], stats: LatencyStats) -> None:
    for quantile, attribute in _QUANTILES:
        family.add_metric([*labels, quantile], float(getattr(stats, attribute)))


class MonitorCollector(Collector):
    def __init__(self, core: MonitorCore, claimer: RedisClaimer | None = None) -> None:
        self._core = core
        self._claimer = claimer

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        view = self._core.exported
        if view is not None:
            yield from self._windowed(view)
            yield from self._current(view)
            yield from self._cost(view)
            yield from self._alerts(view)
        yield from self._notifications()

    def _windowed(self, view: ExportView) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily
        latency = g(
            "oppsuite_request_latency_ms",
            "Total request latency quantile (merged).",
            labels=["window", "quantile"],
        )
        samples = g(
            "oppsuite_request_latency_samples",
            "Requests behind the latency quantiles.",
            labels=["window"],
        )
        step = g(
            "oppsuite_step_latency_ms",
            "Workflow step latency quantile (merged).",
            labels=["window", "step", "quantile"],
        )
        runs = g(
            "oppsuite_step_executions", "Step executions in the window.", labels=["window", "step"]
        )
        violation = g(
            "oppsuite_step_violation_ratio",
            "Share of step executions over the step's threshold.",
            labels=["window", "step"],
        )
        requests = g("oppsuite_requests", "Requests finished in the window.", labels=["window"])
        errors = g(
            "oppsuite_error_ratio", "Failed / all requests in the window.", labels=["window"]
        )
        hits = g(
            "oppsuite_cache_hit_ratio",
            "Cache hits / lookups (tier=all: the gateway's answer).",
            labels=["window", "tier"],
        )
        lookups = g("oppsuite_cache_lookups", "Cache lookups in the window.", labels=["window"])
        rejections = g(
            "oppsuite_rejections", "Rejected requests in the window.", labels=["window", "reason"]
        )
        for window_s, name in WINDOWS.items():
            snap = view.windows[window_s]
            _quantiles(latency, [name], snap.total_latency)
            samples.add_metric([name], snap.total_latency.count)
            for step_name, stats in _bounded(snap.step_latency):
                _quantiles(step, [name, step_name], stats)
                runs.add_metric([name, step_name], stats.count)
                over = snap.step_threshold_violations.get(step_name, 0)
                violation.add_metric([name, step_name], over / stats.count if stats.count else 0.0)
            requests.add_metric([name], snap.request_count)
            errors.add_metric([name], snap.error_rate)
            hits.add_metric([name, "all"], snap.cache_hit_rate)
            for tier, rate in _bounded(snap.cache_hit_rate_by_tier):
                hits.add_metric([name, tier], rate)
            lookups.add_metric([name], snap.cache_lookups)
            for reason, count in _bounded(snap.rejections_by_reason):
                rejections.add_metric([name, reason], count)
        yield from (latency, samples, step, runs, violation, requests, errors, hits, lookups)
        yield rejections

    def _current(self, view: ExportView) -> Iterator[GaugeMetricFamily]:
        snap = view.windows[60.0]
        g = GaugeMetricFamily
        yield g("oppsuite_in_flight", "Requests in flight, all replicas.", value=snap.in_flight)
        yield g("oppsuite_queued", "Requests queued, all replicas.", value=snap.queued)
        yield g(
            "oppsuite_reporting_instances",
            "Service replicas reporting.",
            value=snap.reporting_instances,
        )
        pools = g("oppsuite_pool_utilization_ratio", "Pool use (busiest replica).", labels=["pool"])
        for pool, used in _bounded(snap.pool_utilization):
            pools.add_metric([pool], used)
        yield pools
        memory = g(
            "oppsuite_memory_usage_ratio",
            "Highest RSS / container limit of a service's replicas.",
            labels=["service"],
        )
        for service, ratio in _bounded(view.memory_ratios):
            memory.add_metric([service], ratio)
        yield memory
        rss = g(
            "oppsuite_memory_rss_bytes",
            "Resident memory summed over a service's replicas.",
            labels=["service"],
        )
        for service, value in _bounded(snap.memory_rss_bytes):
            rss.add_metric([service], value)
        yield rss
        score = g(
            "oppsuite_anomaly_score",
            "Robust sigmas from the baseline (higher is worse).",
            labels=["signal"],
        )
        traffic = g(
            "oppsuite_anomaly_traffic", "Traffic behind the anomaly score.", labels=["signal"]
        )
        for name, (value, behind) in sorted(view.anomalies.items()):
            score.add_metric([name], value)
            traffic.add_metric([name], behind)
        yield score
        yield traffic

    def _cost(self, view: ExportView) -> Iterator[GaugeMetricFamily]:
        summary = view.cost
        g = GaugeMetricFamily
        spent = g(
            "oppsuite_cost_usd",
            "Spend in the current UTC period, by client.",
            labels=["period", "client"],
        )
        total = g("oppsuite_cost_total_usd", "Spend in the current UTC period.", labels=["period"])
        used = g(
            "oppsuite_cost_budget_used_ratio",
            "Spend / budget (only with a budget).",
            labels=["period"],
        )
        avoided = g(
            "oppsuite_cost_avoided_usd",
            "Spend avoided by cache hits and coalescing.",
            labels=["period", "source"],
        )
        for period, by_client, by_source in (
            ("day", summary.by_client_day, summary.avoided_by_source_day),
            ("month", summary.by_client_month, summary.avoided_by_source_month),
        ):
            for client, usd in _bounded(by_client):
                spent.add_metric([period, client], usd)
            total.add_metric([period], sum(by_client.values()))
            for source, usd in _bounded(by_source):
                avoided.add_metric([period, source], usd)
        for period, ratio in summary.budget_ratios().items():
            used.add_metric([period], ratio)
        yield from (spent, total, used, avoided)

    def _alerts(self, view: ExportView) -> Iterator[GaugeMetricFamily]:
        alerts = GaugeMetricFamily(
            "oppsuite_alerts",
            "Alerts by rule, severity and state.",
            labels=["alertname", "severity", "state"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        for alert in view.alerts:
            key = (alert.rule.name, alert.rule.severity, alert.state.value)
            counts[key] = counts.get(key, 0) + 1
        for rule in self._core.engine.rules:
            for state in State:
                alerts.add_metric(
                    [rule.name, rule.severity, state.value],
                    counts.get((rule.name, rule.severity, state.value), 0),
                )
        yield alerts

    def _notifications(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        sent = CounterMetricFamily(
            "oppsuite_notifications",
            "Notification outcomes by channel.",
            labels=["channel", "outcome"],
        )
        depth = GaugeMetricFamily(
            "oppsuite_notification_queue_depth", "Notifications waiting.", labels=["channel"]
        )
        tests = CounterMetricFamily(
            "oppsuite_test_notifications",
            "Synthetic test notifications (SendTestAlert) by channel and outcome; "
            "also counted in oppsuite_notifications_total.",
            labels=["channel", "outcome"],
        )
        dispatcher = self._core.dispatcher
        for worker in dispatcher.workers if dispatcher else []:
            stats, channel = worker.stats, worker.channel.name
            for outcome, value in (
                ("sent", stats.sent),
                ("retried", stats.retries),
                ("suppressed", stats.suppressed),
                ("dead_letter", stats.dead),
            ):
                sent.add_metric([channel, outcome], value)
            depth.add_metric([channel], worker.depth)
            tests.add_metric([channel, "delivered"], stats.tests_delivered)
            tests.add_metric([channel, "failed"], stats.tests_failed)
        yield sent
        yield depth
        yield tests
        if self._claimer is not None:
            yield CounterMetricFamily(
                "oppsuite_claim_log_unreachable",
                "Notifications sent without a claim because Redis was unreachable.",
                value=self._claimer.unreachable,
            )
