"""Merges metric reports from every service replica into windowed performance snapshots.

Histograms and counters are deltas: they go into sliding windows at the report's
``sent_at`` (clamped to now, so reports buffered while the monitor was down land
where they belong and a sender clock ahead of ours cannot reach the future).
Gauges are latest values per (service, instance); an instance that has not
reported for ``stale_after_s`` is forgotten, so a dead replica's ``in_flight`` does
not linger. The clock is wall-clock seconds, the same scale as ``sent_at``.

Metric names are the contract between the services and the monitor (see the
module constants below).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from services.monitor.sketch import LogHistogram
from services.monitor.windows import LabelKey, SlidingWindows, label_key

__all__ = [
    "DEFAULT_WINDOW_S",
    "MAX_WINDOW_S",
    "Aggregator",
    "HistogramSeries",
    "LatencyStats",
    "MetricValue",
    "PerformanceSnapshot",
    "Report",
    "resolve_window",
]

DEFAULT_WINDOW_S = 300.0
MAX_WINDOW_S = 900.0

REQUEST_MS = "request_ms"
STEP_MS = "step_ms"
REQUESTS_TOTAL = "requests_total"
CACHE_REQUESTS_TOTAL = "cache_requests_total"
CACHE_TIER_TOTAL = "cache_tier_total"
REJECTIONS_TOTAL = "rejections_total"
STEP_VIOLATIONS_TOTAL = "step_violations_total"
IN_FLIGHT = "in_flight"
QUEUED = "queued"
POOL_UTILIZATION = "pool_utilization"
MEMORY_RSS_BYTES = "memory_rss_bytes"
MEMORY_LIMIT_BYTES = "memory_limit_bytes"


class HistogramSeries(NamedTuple):
    name: str
    labels: Mapping[str, str]
    histogram: LogHistogram


class MetricValue(NamedTuple):
    """A counter delta or a gauge value."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Report:
    """One MetricReport of one service instance, already validated."""

    service: str
    instance: str
    sent_at: float
    histograms: list[HistogramSeries] = field(default_factory=list)
    counters: list[MetricValue] = field(default_factory=list)
    gauges: list[MetricValue] = field(default_factory=list)


@dataclass(frozen=True)
class LatencyStats:
    count: int = 0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    mean: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, histogram: LogHistogram) -> LatencyStats:
        p50, p90, p95, p99 = histogram.quantiles((0.5, 0.9, 0.95, 0.99))
        return cls(histogram.count, p50, p90, p95, p99, histogram.mean, histogram.max)


@dataclass(frozen=True)
class PerformanceSnapshot:
    """Mirrors the PerformanceReport message; ``memory_limit_bytes`` is extra (not on the wire)."""

    window_seconds: float
    request_count: int
    error_count: int
    error_rate: float
    cache_hit_rate: float
    total_latency: LatencyStats
    step_latency: dict[str, LatencyStats]
    cache_hit_rate_by_tier: dict[str, float]
    pool_utilization: dict[str, float]
    in_flight: float
    queued: float
    rejections_by_reason: dict[str, int]
    memory_rss_bytes: dict[str, float]
    memory_limit_bytes: dict[str, float]
    step_threshold_violations: dict[str, int]
    reporting_instances: int
    generated_at: float
    recommendations: tuple[str, ...] = ()
    cache_lookups: int = 0  # hits + misses behind cache_hit_rate (the traffic floor of its rules)


def resolve_window(window_s: float) -> float:
    """0 or less means the default (300 s); anything above 900 s is clamped to 900 s."""
    if window_s <= 0:
        return DEFAULT_WINDOW_S
    return min(float(window_s), MAX_WINDOW_S)


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


InstanceKey = tuple[str, str]
GaugeKey = tuple[str, LabelKey]


@dataclass
class _Instance:
    last_seen: float
    gauges: dict[GaugeKey, float] = field(default_factory=dict)


class Aggregator:
    def __init__(
        self,
        clock: Callable[[], float],
        stale_after_s: float = 15.0,
        *,
        windows: SlidingWindows | None = None,
        max_instances: int = 1_000,
        max_gauges_per_instance: int = 1_000,
    ) -> None:
        self._clock = clock
        self._stale_after_s = stale_after_s
        self._windows = windows or SlidingWindows(clock, retention_s=MAX_WINDOW_S)
        self._max_instances = max_instances
        self._max_gauges = max_gauges_per_instance
        self._instances: dict[InstanceKey, _Instance] = {}
        self.dropped_instances = 0
        self.dropped_gauges = 0

    def ingest(self, report: Report) -> None:
        now = self._clock()
        at = min(report.sent_at, now) if report.sent_at > 0 else now
        for series in report.histograms:
            self._windows.add_histogram(series.name, series.labels, series.histogram, at=at)
        for counter in report.counters:
            self._windows.add_counter(counter.name, counter.labels, counter.value, at=at)
        instance = self._instance(report.service, report.instance, now)
        if instance is not None:
            instance.last_seen = now
            self._set_gauges(instance, report.gauges)

    def performance(self, window_s: float) -> PerformanceSnapshot:
        """The snapshot of the last ``window_s`` seconds (see ``resolve_window``)."""
        window = resolve_window(window_s)
        live = self._live_instances()
        requests = self._windows.counter(REQUESTS_TOTAL, window)
        errors = self._windows.counter(REQUESTS_TOTAL, window, {"outcome": "error"})
        hits = self._windows.counter(CACHE_REQUESTS_TOTAL, window, {"result": "hit"})
        misses = self._windows.counter(CACHE_REQUESTS_TOTAL, window, {"result": "miss"})
        steps = self._windows.histograms_by(STEP_MS, "step", window)
        return PerformanceSnapshot(
            window_seconds=window,
            request_count=round(requests),
            error_count=round(errors),
            error_rate=_ratio(errors, requests),
            cache_hit_rate=_ratio(hits, hits + misses),
            total_latency=LatencyStats.of(self._windows.histogram(REQUEST_MS, window)),
            step_latency={step: LatencyStats.of(h) for step, h in sorted(steps.items())},
            cache_hit_rate_by_tier=self._tier_hit_rates(window),
            pool_utilization=_gauge_by(live, POOL_UTILIZATION, "pool", max),
            in_flight=_gauge_total(live, IN_FLIGHT),
            queued=_gauge_total(live, QUEUED),
            rejections_by_reason=self._counts_by(REJECTIONS_TOTAL, "reason", window),
            memory_rss_bytes=_gauge_by_service(live, MEMORY_RSS_BYTES),
            memory_limit_bytes=_gauge_by_service(live, MEMORY_LIMIT_BYTES),
            step_threshold_violations=self._counts_by(STEP_VIOLATIONS_TOTAL, "step", window),
            reporting_instances=len(live),
            generated_at=self._clock(),
            cache_lookups=round(hits + misses),
        )

    def memory_ratios(self) -> dict[str, float]:
        """By service, the highest RSS / container limit of its live instances.

        Per instance, because each replica has its own limit: a sum over replicas would
        hide one replica about to be OOM-killed. Instances without a limit are skipped.
        """
        ratios: dict[str, float] = {}
        for (service, _), instance in self._live_instances().items():
            rss = instance.gauges.get((MEMORY_RSS_BYTES, ()))
            limit = instance.gauges.get((MEMORY_LIMIT_BYTES, ()))
            if rss is not None and limit:
                ratios[service] = max(ratios.get(service, 0.0), rss / limit)
        return dict(sorted(ratios.items()))

    def counter_by(self, name: str, label: str, window_s: float) -> dict[str, float]:
        """Counter sums of ``name`` by ``label`` over ``window_s`` (see resolve_window)."""
        return self._windows.counter_by(name, label, resolve_window(window_s))

    def _tier_hit_rates(self, window: float) -> dict[str, float]:
        hits = self._windows.counter_by(CACHE_TIER_TOTAL, "tier", window, {"result": "hit"})
        misses = self._windows.counter_by(CACHE_TIER_TOTAL, "tier", window, {"result": "miss"})
        tiers = sorted(hits.keys() | misses.keys())
        return {
            tier: _ratio(hits.get(tier, 0.0), hits.get(tier, 0.0) + misses.get(tier, 0.0))
            for tier in tiers
        }

    def _counts_by(self, name: str, label: str, window: float) -> dict[str, int]:
        by_value = self._windows.counter_by(name, label, window)
        return {value: round(total) for value, total in sorted(by_value.items())}

    def _instance(self, service: str, instance: str, now: float) -> _Instance | None:
        key = (service, instance)
        known = self._instances.get(key)
        if known is not None:
            return known
        self._live_instances()
        if len(self._instances) >= self._max_instances:
            self.dropped_instances += 1
            return None
        return self._instances.setdefault(key, _Instance(last_seen=now))

    def _set_gauges(self, instance: _Instance, gauges: list[MetricValue]) -> None:
        for gauge in gauges:
            key = (gauge.name, label_key(gauge.labels))
            if key in instance.gauges or len(instance.gauges) < self._max_gauges:
                instance.gauges[key] = gauge.value
            else:
                self.dropped_gauges += 1

    def _live_instances(self) -> dict[InstanceKey, _Instance]:
        """Forget instances silent for longer than ``stale_after_s``; the rest."""
        cutoff = self._clock() - self._stale_after_s
        for key in [k for k, i in self._instances.items() if i.last_seen < cutoff]:
            del self._instances[key]
        return self._instances


def _gauge_values(
    live: Mapping[InstanceKey, _Instance], name: str
) -> list[tuple[str, LabelKey, float]]:
    """(service, labels, value) of every live gauge called ``name``."""
    return [
        (service, labels, value)
        for (service, _), instance in live.items()
        for (gauge_name, labels), value in instance.gauges.items()
        if gauge_name == name
    ]


def _gauge_total(live: Mapping[InstanceKey, _Instance], name: str) -> float:
    return sum(value for _, _, value in _gauge_values(live, name))


def _gauge_by(
    live: Mapping[InstanceKey, _Instance],
    name: str,
    label: str,
    combine: Callable[[float, float], float],
) -> dict[str, float]:
    grouped: dict[str, float] = {}
    for _, labels, value in _gauge_values(live, name):
        label_value = dict(labels).get(label)
        if label_value is not None:
            previous = grouped.get(label_value)
            grouped[label_value] = value if previous is None else combine(previous, value)
    return dict(sorted(grouped.items()))


def _gauge_by_service(live: Mapping[InstanceKey, _Instance], name: str) -> dict[str, float]:
    grouped: dict[str, float] = {}
    for service, _, value in _gauge_values(live, name):
        grouped[service] = grouped.get(service, 0.0) + value
    return dict(sorted(grouped.items()))
