"""Cost of the monitor's work at a realistic load, on a simulated clock.

    .venv/bin/python -m benchmarks.monitor_eval [--replicas 20] [--minutes 15]

Fills the 15-minute windows with one report per replica per second (latencies of 50
requests, three steps, outcome and cache counters, pool and memory gauges), then times
report ingestion, one rule evaluation (all shipped rules) and one /metrics scrape.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import replace

from prometheus_client import CollectorRegistry, generate_latest

from services.monitor.aggregator import Aggregator, HistogramSeries, MetricValue, Report
from services.monitor.alerts import AlertEngine
from services.monitor.core import MonitorCore, default_anomaly_trackers
from services.monitor.cost import CostLedger
from services.monitor.exporter import MonitorCollector
from services.monitor.rules import load_rules
from services.monitor.silences import Silences
from services.monitor.sketch import LogHistogram


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


def report(rng: random.Random, clock: Clock, replica: int) -> Report:
    latencies = [rng.lognormvariate(math.log(800), 1.0) for _ in range(50)]
    steps = [
        HistogramSeries(
            "step_ms",
            {"step": step},
            LogHistogram.of(rng.lognormvariate(math.log(median), 0.5) for _ in range(10)),
        )
        for step, median in (
            ("query_generation", 900),
            ("data_retrieval", 2500),
            ("analysis", 4000),
        )
    ]
    return Report(
        "gateway",
        f"gw-{replica}",
        clock.now,
        [HistogramSeries("request_ms", {"source": "miss"}, LogHistogram.of(latencies)), *steps],
        [
            MetricValue("requests_total", {"outcome": "ok", "code": "OK"}, 49.0),
            MetricValue("requests_total", {"outcome": "error", "code": "UNAVAILABLE"}, 1.0),
            MetricValue("cache_requests_total", {"result": "hit"}, 40.0),
            MetricValue("cache_requests_total", {"result": "miss"}, 10.0),
            MetricValue("cost_usd_total", {"client": f"c{replica % 5}"}, 0.02),
        ],
        [
            MetricValue("pool_utilization", {"pool": "bedrock"}, rng.random()),
            MetricValue("memory_rss_bytes", {}, 3e8),
            MetricValue("memory_limit_bytes", {}, 1e9),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--minutes", type=int, default=15)
    args = parser.parse_args()
    clock, rng = Clock(), random.Random(7)
    core = MonitorCore(
        Aggregator(clock, stale_after_s=30),
        CostLedger(clock),
        AlertEngine(load_rules(None), clock, Silences(clock, rng)),
        anomalies=default_anomaly_trackers(clock),
    )
    reports = [report(rng, clock, r) for r in range(args.replicas)]
    ingest_s = 0.0
    for _ in range(args.minutes * 60):
        clock.now += 1.0
        started = time.perf_counter()
        for r in reports:
            core.ingest(replace(r, sent_at=clock.now))
        ingest_s += time.perf_counter() - started
    count = args.minutes * 60 * args.replicas
    started = time.perf_counter()
    evaluations = 5
    for _ in range(evaluations):
        core.evaluate_once()
    evaluate_ms = (time.perf_counter() - started) * 1000 / evaluations
    registry = CollectorRegistry()
    registry.register(MonitorCollector(core))
    started = time.perf_counter()
    body = generate_latest(registry)
    scrape_ms = (time.perf_counter() - started) * 1000
    print(f"{args.replicas} replicas x {args.minutes} min of 1 s reports ({count} reports)")
    print(f"ingest: {ingest_s * 1e6 / count:8.1f} us per report")
    print(f"evaluate all rules: {evaluate_ms:8.1f} ms per evaluation")
    print(f"/metrics scrape: {scrape_ms:8.1f} ms, {len(body.splitlines())} lines")


if __name__ == "__main__":
    main()
