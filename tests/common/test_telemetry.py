from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from services.common.gen import monitor_pb2, monitor_pb2_grpc
from services.common.reporting import Reporting
from services.common.telemetry import MonitorReporter, Telemetry
from tests.conftest import free_port

# --- Telemetry -------------------------------------------------------------------------


def test_report_carries_deltas_and_gauges_then_deltas_reset():
    telemetry = Telemetry(clock=lambda: 123.0)
    telemetry.observe("request_ms", 10.0, source="miss")
    telemetry.observe("request_ms", 30.0, source="miss")
    telemetry.observe("request_ms", 2.0, source="near")
    telemetry.inc("requests_total", outcome="ok", code="OK")
    telemetry.inc("requests_total", 2, outcome="ok", code="OK")
    telemetry.set_gauge("in_flight", 3)
    telemetry.set_gauge("in_flight", 4)

    report = telemetry.take_report("gateway", "host:1")
    assert report is not None
    assert (report.service, report.instance, report.sent_at_unix) == ("gateway", "host:1", 123.0)
    by_source = {h.labels["source"]: h for h in report.histograms}
    assert by_source["miss"].count == 2 and by_source["miss"].max == 30.0
    assert by_source["near"].count == 1
    [counter] = report.counters
    assert (counter.name, dict(counter.labels), counter.value) == (
        "requests_total",
        {"outcome": "ok", "code": "OK"},
        3.0,
    )
    [gauge] = report.gauges
    assert (gauge.name, gauge.value) == ("in_flight", 4.0)

    again = telemetry.take_report("gateway", "host:1")
    assert again is not None
    assert not again.histograms and not again.counters
    assert [g.value for g in again.gauges] == [4.0]


def test_nothing_to_report_is_none_unless_a_heartbeat_is_wanted():
    telemetry = Telemetry()
    assert telemetry.take_report("cache", "c:1") is None
    heartbeat = telemetry.take_report("cache", "c:1", allow_empty=True)
    assert heartbeat is not None and heartbeat.service == "cache"


def test_series_are_bounded_and_drops_counted():
    telemetry = Telemetry(max_series=3)
    for i in range(5):
        telemetry.inc("c", code=str(i))
    telemetry.inc("c", code="0")  # existing series keep counting
    telemetry.set_gauge("g", 1)
    report = telemetry.take_report("s", "i")
    assert report is not None
    assert sorted(c.value for c in report.counters) == [1.0, 1.0, 2.0]
    assert telemetry.dropped_series == 3
    # The deltas were taken, so new series fit again.
    telemetry.set_gauge("g", 1)
    assert telemetry.take_report("s", "i") is not None


def test_bad_values_are_dropped_not_raised():
    telemetry = Telemetry()
    telemetry.observe("request_ms", math.nan)
    telemetry.inc("c", -1)
    telemetry.set_gauge("g", math.inf)
    assert telemetry.dropped_values == 3
    assert telemetry.take_report("s", "i") is None


def test_concurrent_threads_lose_no_increments():
    telemetry = Telemetry()

    def work() -> None:
        for _ in range(2_000):
            telemetry.inc("requests_total", outcome="ok")
            telemetry.observe("request_ms", 5.0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = telemetry.take_report("s", "i")
    assert report is not None
    assert report.counters[0].value == 16_000
    assert report.histograms[0].count == 16_000


def test_a_latency_counted_in_batch_is_recorded_as_many_times() -> None:
    telemetry = Telemetry()
    telemetry.observe_times("pool_wait_ms", 0.0, 40, pool="athena")
    telemetry.observe_times("pool_wait_ms", 0.0, 2, pool="athena")
    telemetry.observe_times("pool_wait_ms", 0.0, -1, pool="athena")  # a bug: dropped, counted
    report = telemetry.take_report("s", "i")
    assert report is not None
    assert [(h.count, h.zero_count) for h in report.histograms] == [(42, 42)]
    assert telemetry.dropped_values == 1


async def test_reporting_samples_once_more_as_it_stops() -> None:
    # What a sampler hands over in batch (pool waits that did not wait) since its last run
    # must reach the last report, not be dropped with the process.
    samples: list[float] = []
    reporting = Reporting(Telemetry(), None, lambda: samples.append(time.monotonic()), 60.0)
    await reporting.start()
    await asyncio.sleep(0)  # the sampler's first run, at start
    assert len(samples) == 1
    await reporting.stop()
    assert len(samples) == 2


# --- MonitorReporter against a real gRPC server -------------------------------------


class Collector(monitor_pb2_grpc.MonitorServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.reports: list[monitor_pb2.MetricReport] = []

    async def Report(self, request_iterator, context):
        accepted = 0
        async for report in request_iterator:
            self.reports.append(report)
            accepted += 1
        return monitor_pb2.ReportAck(accepted=accepted)

    def counter_total(self, name: str) -> float:
        return sum(c.value for r in self.reports for c in r.counters if c.name == name)

    def histogram_counts(self, name: str) -> list[int]:
        return [h.count for r in self.reports for h in r.histograms if h.name == name]


async def start_server(collector: Collector, port: int = 0) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    monitor_pb2_grpc.add_MonitorServicer_to_server(collector, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


def channel_to(port: int) -> Callable[[], grpc.aio.Channel]:
    return lambda: grpc.aio.insecure_channel(f"127.0.0.1:{port}")


def reporter_for(telemetry: Telemetry, port: int, **options) -> MonitorReporter:
    settings: dict[str, Any] = {"interval_s": 0.05, "backoff_initial_s": 0.05, "backoff_max_s": 0.2}
    settings.update(options)
    return MonitorReporter(
        telemetry, channel_to(port), service="gateway", instance="host:1", **settings
    )


async def eventually(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def monitor():
    collector = Collector()
    server, port = await start_server(collector)
    yield collector, port
    await server.stop(grace=None)


async def test_reports_arrive_and_deltas_reset_between_them(monitor):
    collector, port = monitor
    telemetry = Telemetry()
    reporter = reporter_for(telemetry, port)
    await reporter.start()
    try:
        for value in (10.0, 20.0, 30.0):
            telemetry.observe("request_ms", value, source="miss")
        telemetry.inc("requests_total", 3, outcome="ok", code="OK")
        await eventually(lambda: collector.histogram_counts("request_ms") == [3])
        telemetry.observe("request_ms", 40.0, source="miss")
        telemetry.inc("requests_total", outcome="ok", code="OK")
        await eventually(lambda: collector.histogram_counts("request_ms") == [3, 1])
        await eventually(lambda: collector.counter_total("requests_total") == 4)
    finally:
        await reporter.stop()
    assert all(r.service == "gateway" and r.instance == "host:1" for r in collector.reports)
    # Ticks with nothing recorded still send heartbeats so the monitor sees the instance.
    assert any(not (r.histograms or r.counters or r.gauges) for r in collector.reports)


async def test_reports_wait_while_the_monitor_is_down_then_arrive():
    port = free_port()
    telemetry = Telemetry()
    reporter = reporter_for(telemetry, port)
    await reporter.start()
    collector = Collector()
    server = None
    try:
        started = time.time()
        for _ in range(5):
            telemetry.inc("requests_total", outcome="ok", code="OK")
            await asyncio.sleep(0.06)
        assert reporter.pending >= 2
        assert reporter.sent_reports == 0
        server, _ = await start_server(collector, port)
        await eventually(lambda: collector.counter_total("requests_total") == 5)
        assert reporter.pending == 0
        sent_while_down = [r for r in collector.reports if r.counters]
        assert min(r.sent_at_unix for r in sent_while_down) < started + 0.2
    finally:
        await reporter.stop()
        if server is not None:
            await server.stop(grace=None)


async def test_reconnects_after_the_monitor_restarts():
    collector = Collector()
    server, port = await start_server(collector)
    telemetry = Telemetry()
    reporter = reporter_for(telemetry, port)
    await reporter.start()
    try:
        telemetry.inc("requests_total", outcome="ok")
        await eventually(lambda: collector.counter_total("requests_total") == 1)
        await server.stop(grace=None)
        telemetry.inc("requests_total", outcome="ok")
        await asyncio.sleep(0.3)
        server, _ = await start_server(collector, port)
        telemetry.inc("requests_total", outcome="ok")
        # Best effort: the report written as the connection broke may be lost.
        await eventually(lambda: collector.counter_total("requests_total") >= 2)
    finally:
        await reporter.stop()
        await server.stop(grace=None)


async def test_pending_reports_are_bounded_oldest_dropped():
    telemetry = Telemetry()
    reporter = reporter_for(telemetry, free_port(), interval_s=0.01, max_pending=5)
    await reporter.start()
    try:
        for _ in range(20):
            telemetry.inc("requests_total", outcome="ok")
            await asyncio.sleep(0.015)
        assert reporter.pending <= 5
        assert reporter.dropped_reports > 0
    finally:
        await reporter.stop()


async def test_stop_is_prompt_when_the_monitor_is_unreachable():
    telemetry = Telemetry()
    reporter = reporter_for(telemetry, free_port())
    await reporter.start()
    telemetry.inc("requests_total", outcome="ok")
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await reporter.stop()
    assert time.monotonic() - began < 1.5


async def test_stop_flushes_what_was_recorded_since_the_last_tick(monitor):
    collector, port = monitor
    telemetry = Telemetry()
    reporter = reporter_for(telemetry, port, interval_s=30.0)
    await reporter.start()
    telemetry.observe("step_ms", 1_500.0, step="analysis")
    began = time.monotonic()
    await reporter.stop()
    assert time.monotonic() - began < 1.5
    assert collector.histogram_counts("step_ms") == [1]
    await reporter.stop()  # a second stop is harmless


async def test_works_with_a_given_stub(monitor):
    collector, port = monitor
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    telemetry = Telemetry()
    reporter = MonitorReporter(
        telemetry,
        monitor_pb2_grpc.MonitorStub(channel),
        service="cache",
        instance="c:1",
        interval_s=0.05,
    )
    await reporter.start()
    try:
        telemetry.set_gauge("in_flight", 7)
        await eventually(lambda: any(r.gauges for r in collector.reports))
    finally:
        await reporter.stop()
        await channel.close()
    assert collector.reports[0].service == "cache"
