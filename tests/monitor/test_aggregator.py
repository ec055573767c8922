from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import pytest

from services.common.errors import InvalidInput
from services.common.gen import monitor_pb2, types_pb2
from services.monitor.aggregator import (
    Aggregator,
    HistogramSeries,
    LatencyStats,
    MetricValue,
    Report,
    resolve_window,
)
from services.monitor.convert import (
    histogram_from_delta,
    histogram_to_delta,
    performance_from_proto,
    performance_to_proto,
    report_from_proto,
)
from services.monitor.sketch import RELATIVE_ACCURACY, LogHistogram
from tests.monitor.test_windows import FakeClock

TOLERANCE = RELATIVE_ACCURACY * (1 + 1e-9)


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def aggregator(clock: FakeClock) -> Aggregator:
    return Aggregator(clock, stale_after_s=15.0)


def report(clock: FakeClock, instance: str, service: str = "gateway", **parts) -> Report:
    return Report(service=service, instance=instance, sent_at=clock.now, **parts)


def test_two_replicas_merge_to_the_exact_percentiles_of_the_union(clock, aggregator):
    rng = random.Random(11)
    fast = [rng.lognormvariate(math.log(40.0), 0.5) for _ in range(3_000)]
    slow = [rng.lognormvariate(math.log(900.0), 0.8) for _ in range(1_000)]
    for instance, samples in (("gw-a:1", fast), ("gw-b:1", slow)):
        # Each replica reports its samples in one-second chunks, as the reporter does.
        for start in range(0, len(samples), 500):
            chunk = LogHistogram.of(samples[start : start + 500])
            aggregator.ingest(
                report(clock, instance, histograms=[HistogramSeries("request_ms", {}, chunk)])
            )
            clock.advance(1)
    union = fast + slow
    latency = aggregator.performance(60).total_latency
    assert latency.count == len(union)
    for q, estimate in ((0.5, latency.p50), (0.9, latency.p90), (0.99, latency.p99)):
        exact = exact_quantile(union, q)
        assert abs(estimate - exact) <= TOLERANCE * exact
    assert latency.max == max(union)
    assert latency.mean == pytest.approx(sum(union) / len(union))
    # Averaging the replicas' P99s would be far off: the merge is what makes this right.
    p99s = [exact_quantile(s, 0.99) for s in (fast, slow)]
    assert abs(sum(p99s) / 2 - exact_quantile(union, 0.99)) > 0.05 * exact_quantile(union, 0.99)


def test_request_error_and_cache_hit_rates(clock, aggregator):
    counters = [
        MetricValue("requests_total", {"outcome": "ok", "code": "OK"}, 90),
        MetricValue("requests_total", {"outcome": "error", "code": "UNAVAILABLE"}, 6),
        MetricValue("requests_total", {"outcome": "error", "code": "RESOURCE_EXHAUSTED"}, 4),
        MetricValue("cache_requests_total", {"result": "hit"}, 60),
        MetricValue("cache_requests_total", {"result": "miss"}, 20),
        MetricValue("cache_tier_total", {"tier": "near", "result": "hit"}, 30),
        MetricValue("cache_tier_total", {"tier": "near", "result": "miss"}, 50),
        MetricValue("cache_tier_total", {"tier": "redis", "result": "hit"}, 30),
        MetricValue("cache_tier_total", {"tier": "redis", "result": "miss"}, 20),
        MetricValue("cache_tier_total", {"tier": "dynamodb", "result": "miss"}, 20),
        MetricValue("rejections_total", {"reason": "client"}, 3),
        MetricValue("rejections_total", {"reason": "queue_full"}, 1),
    ]
    aggregator.ingest(report(clock, "gw-a:1", counters=counters[:6]))
    aggregator.ingest(report(clock, "gw-b:1", counters=counters[6:]))
    snapshot = aggregator.performance(300)
    assert snapshot.request_count == 100
    assert snapshot.error_count == 10
    assert snapshot.error_rate == pytest.approx(0.1)
    assert snapshot.cache_hit_rate == pytest.approx(0.75)
    assert snapshot.cache_hit_rate_by_tier == pytest.approx(
        {"near": 0.375, "redis": 0.6, "dynamodb": 0.0}
    )
    assert snapshot.rejections_by_reason == {"client": 3, "queue_full": 1}


def test_empty_aggregator_reports_zeros_not_errors(aggregator):
    snapshot = aggregator.performance(60)
    assert snapshot.request_count == 0
    assert snapshot.error_rate == 0.0
    assert snapshot.cache_hit_rate == 0.0
    assert snapshot.total_latency == LatencyStats()
    assert snapshot.reporting_instances == 0


def test_step_latency_and_violations(clock, aggregator):
    analysis = LogHistogram.of([1_000.0, 2_000.0, 3_000.0])
    total = LogHistogram.of([5_000.0])
    aggregator.ingest(
        report(
            clock,
            "an-1",
            service="analysis",
            histograms=[
                HistogramSeries("step_ms", {"step": "analysis"}, analysis),
                HistogramSeries("step_ms", {"step": "total"}, total),
            ],
            counters=[MetricValue("step_violations_total", {"step": "analysis"}, 2)],
        )
    )
    snapshot = aggregator.performance(60)
    assert set(snapshot.step_latency) == {"analysis", "total"}
    assert snapshot.step_latency["analysis"].count == 3
    assert snapshot.step_latency["analysis"].p50 == pytest.approx(2_000.0, rel=0.01)
    assert snapshot.step_latency["total"].max == 5_000.0
    assert snapshot.step_threshold_violations == {"analysis": 2}
    assert snapshot.total_latency.count == 0


def test_gauges_combine_across_live_instances_and_stale_ones_are_forgotten(clock, aggregator):
    def gauges(in_flight: float, pool: float, rss: float) -> list[MetricValue]:
        return [
            MetricValue("in_flight", {}, in_flight),
            MetricValue("queued", {}, 1),
            MetricValue("pool_utilization", {"pool": "redis"}, pool),
            MetricValue("memory_rss_bytes", {}, rss),
            MetricValue("memory_limit_bytes", {}, 1_000),
        ]

    aggregator.ingest(report(clock, "gw-a:1", gauges=gauges(4, 0.2, 100)))
    aggregator.ingest(report(clock, "gw-b:1", gauges=gauges(6, 0.7, 300)))
    aggregator.ingest(report(clock, "c-1", service="cache", gauges=gauges(1, 0.5, 50)))
    snapshot = aggregator.performance(60)
    assert snapshot.reporting_instances == 3
    assert snapshot.in_flight == 11
    assert snapshot.queued == 3
    assert snapshot.pool_utilization == {"redis": 0.7}
    assert snapshot.memory_rss_bytes == {"cache": 50, "gateway": 400}
    assert snapshot.memory_limit_bytes == {"cache": 1_000, "gateway": 2_000}

    clock.advance(10)
    aggregator.ingest(report(clock, "gw-a:1", gauges=gauges(2, 0.1, 120)))
    clock.advance(10)  # gw-b and the cache last reported 20 s ago: stale
    snapshot = aggregator.performance(60)
    assert snapshot.reporting_instances == 1
    assert snapshot.in_flight == 2
    assert snapshot.pool_utilization == {"redis": 0.1}
    assert snapshot.memory_rss_bytes == {"gateway": 120}


def test_stale_instance_deltas_stay_in_the_window(clock, aggregator):
    counters = [MetricValue("requests_total", {"outcome": "ok"}, 5)]
    aggregator.ingest(report(clock, "gw-b:1", counters=counters))
    clock.advance(30)
    snapshot = aggregator.performance(60)
    assert snapshot.reporting_instances == 0
    assert snapshot.request_count == 5


def test_buffered_reports_land_at_their_sent_time(clock, aggregator):
    old = Report(
        "gateway",
        "gw-a:1",
        sent_at=clock.now - 120,
        counters=[MetricValue("requests_total", {"outcome": "ok"}, 7)],
    )
    aggregator.ingest(old)
    assert aggregator.performance(60).request_count == 0
    assert aggregator.performance(300).request_count == 7


def test_windows_are_resolved_and_clamped(clock, aggregator):
    assert resolve_window(0) == 300
    assert resolve_window(60) == 60
    assert resolve_window(120) == 120
    assert resolve_window(3_600) == 900
    assert aggregator.performance(0).window_seconds == 300
    assert aggregator.performance(10_000).window_seconds == 900
    assert aggregator.performance(60).generated_at == clock.now


def test_number_of_instances_is_bounded(clock):
    aggregator = Aggregator(clock, max_instances=2)
    for i in range(4):
        aggregator.ingest(report(clock, f"i-{i}", gauges=[MetricValue("in_flight", {}, 1)]))
    assert aggregator.performance(60).reporting_instances == 2
    assert aggregator.dropped_instances == 2
    clock.advance(16)  # once they go stale, new instances fit again
    aggregator.ingest(report(clock, "i-9", gauges=[MetricValue("in_flight", {}, 1)]))
    assert aggregator.performance(60).reporting_instances == 1


# --- protobuf conversion (services.monitor.convert) -----------------------------------


def metric_report(**overrides) -> monitor_pb2.MetricReport:
    histogram = LogHistogram.of([0.0, 3.0, 40.0, 40.5, 1_200.0])
    fields: dict[str, Any] = {
        "service": "gateway",
        "instance": "gw-a:1",
        "sent_at_unix": 1_700_000_000.5,
        "histograms": [histogram_to_delta("request_ms", {"source": "miss"}, histogram)],
        "counters": [
            monitor_pb2.CounterDelta(name="requests_total", labels={"outcome": "ok"}, value=5)
        ],
        "gauges": [monitor_pb2.GaugeValue(name="in_flight", value=2)],
    }
    fields.update(overrides)
    return monitor_pb2.MetricReport(**fields)


def violated_fields(message: monitor_pb2.MetricReport) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        report_from_proto(message)
    return [v.field for v in caught.value.violations]


def test_histogram_delta_round_trip():
    histogram = LogHistogram.of([0.0, 0.5, 3.0, 40.0, 40.5, 1_200.0, 86_400_000.0 * 3])
    delta = histogram_to_delta("step_ms", {"step": "analysis"}, histogram)
    decoded = monitor_pb2.HistogramDelta.FromString(delta.SerializeToString())
    name, labels, back = histogram_from_delta(decoded)
    assert (name, labels) == ("step_ms", {"step": "analysis"})
    assert back.buckets == histogram.buckets
    assert (back.zero_count, back.count, back.sum, back.max) == (
        histogram.zero_count,
        histogram.count,
        histogram.sum,
        histogram.max,
    )
    assert back.quantiles((0.5, 0.99)) == histogram.quantiles((0.5, 0.99))


def test_report_from_proto_builds_the_domain_report():
    decoded = report_from_proto(metric_report())
    assert (decoded.service, decoded.instance, decoded.sent_at) == (
        "gateway",
        "gw-a:1",
        1_700_000_000.5,
    )
    [series] = decoded.histograms
    assert series.name == "request_ms" and series.labels == {"source": "miss"}
    assert series.histogram.count == 5
    assert decoded.counters == [MetricValue("requests_total", {"outcome": "ok"}, 5.0)]
    assert decoded.gauges == [MetricValue("in_flight", {}, 2.0)]


def test_report_validation_rejects_a_buggy_sender():
    assert violated_fields(metric_report(service="", instance=" ")) == ["service", "instance"]
    negative = monitor_pb2.CounterDelta(name="requests_total", value=-1)
    assert violated_fields(metric_report(counters=[negative])) == ["counters[0].value"]
    nan_gauge = monitor_pb2.GaugeValue(name="in_flight", value=math.nan)
    assert violated_fields(metric_report(gauges=[nan_gauge])) == ["gauges[0].value"]
    unnamed = monitor_pb2.GaugeValue(name="", value=1)
    assert violated_fields(metric_report(gauges=[unnamed])) == ["gauges[0].name"]
    many_labels = monitor_pb2.CounterDelta(name="c", labels={str(i): "x" for i in range(9)})
    assert violated_fields(metric_report(counters=[many_labels])) == ["counters[0].labels"]


def test_report_validation_rejects_impossible_histograms():
    wrong_count = histogram_to_delta("request_ms", {}, LogHistogram.of([5.0]))
    wrong_count.count = 3
    assert violated_fields(metric_report(histograms=[wrong_count])) == ["histograms[0].count"]
    out_of_range = monitor_pb2.HistogramDelta(name="request_ms", buckets={5_000: 1}, count=1)
    assert violated_fields(metric_report(histograms=[out_of_range])) == ["histograms[0]"]
    with pytest.raises(InvalidInput):
        histogram_from_delta(out_of_range)


def test_report_with_too_many_series_is_rejected_before_anything_else():
    counters = [monitor_pb2.CounterDelta(name=f"c{i}", value=1) for i in range(2_001)]
    assert violated_fields(metric_report(service="", counters=counters)) == ["series"]


def test_performance_snapshot_round_trips_through_protobuf(clock, aggregator):
    aggregator.ingest(report_from_proto(metric_report(sent_at_unix=clock.now)))
    aggregator.ingest(
        Report(
            "analysis",
            "an-1",
            clock.now,
            histograms=[
                HistogramSeries("step_ms", {"step": "total"}, LogHistogram.of([900.0, 1_100.0]))
            ],
            counters=[MetricValue("rejections_total", {"reason": "budget"}, 2)],
            gauges=[MetricValue("memory_rss_bytes", {}, 5e8)],
        )
    )
    snapshot = dataclasses.replace(aggregator.performance(60), recommendations=("scale out",))
    message = performance_to_proto(snapshot)
    decoded = types_pb2.PerformanceReport.FromString(message.SerializeToString())
    assert decoded.request_count == 5
    assert decoded.total_latency.count == 5
    assert decoded.total_latency.p99_ms == pytest.approx(40.5, rel=0.01)  # rank floor(0.99 * 4)
    assert decoded.total_latency.max_ms == 1_200.0
    assert decoded.step_latency["total"].max_ms == 1_100.0
    assert decoded.rejections_by_reason == {"budget": 2}
    assert decoded.reporting_instances == 2
    assert list(decoded.recommendations) == ["scale out"]
    back = performance_from_proto(decoded)
    assert back == dataclasses.replace(snapshot, memory_limit_bytes={})
