"""The monitor over real gRPC: reports from two replicas merge into one view."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from services.common.gen import monitor_pb2, monitor_pb2_grpc, types_pb2
from services.common.telemetry import Telemetry
from services.monitor.app import build
from services.monitor.config import Settings
from tests.servicers import running


@pytest.fixture
async def monitor() -> AsyncIterator[monitor_pb2_grpc.MonitorStub]:
    settings = Settings.from_env(
        {"MONITOR_PORT": "0", "MONITOR_METRICS_PORT": "-1", "REDIS_URL": ""}
    )
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            yield monitor_pb2_grpc.MonitorStub(channel)


def replica_report(instance: str, latencies: list[float], errors: int) -> monitor_pb2.MetricReport:
    telemetry = Telemetry()
    for value in latencies:
        telemetry.observe("request_ms", value, source="miss")
        telemetry.inc("requests_total", outcome="ok", code="OK")
        telemetry.inc("cache_requests_total", result="miss")
    for _ in range(errors):
        telemetry.inc("requests_total", outcome="error", code="UNAVAILABLE")
    telemetry.set_gauge("in_flight", 3)
    report = telemetry.take_report("gateway", instance)
    assert report is not None
    return report


async def test_two_replicas_merge_into_true_percentiles(
    monitor: monitor_pb2_grpc.MonitorStub,
) -> None:
    fast = [float(v) for v in range(1, 101)]
    slow = [float(v) for v in range(1000, 1100)]
    for instance, values, errors in (("a", fast, 0), ("b", slow, 4)):
        call = monitor.Report()
        await call.write(replica_report(instance, values, errors))
        await call.done_writing()
        assert (await call).accepted == 1
    report = await monitor.GetPerformance(types_pb2.GetPerformanceRequest(window_seconds=60))
    exact = sorted(fast + slow)
    assert report.request_count == 204 and report.error_count == 4
    assert report.total_latency.count == 200
    assert report.total_latency.p50_ms == pytest.approx(exact[99], rel=0.01)
    assert report.total_latency.p99_ms == pytest.approx(exact[197], rel=0.01)
    assert report.in_flight == 6 and report.reporting_instances == 2


async def test_a_report_without_identity_is_rejected(monitor: monitor_pb2_grpc.MonitorStub) -> None:
    call = monitor.Report()
    await call.write(monitor_pb2.MetricReport(service="", instance=""))
    await call.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_windows_longer_than_kept_are_invalid(monitor: monitor_pb2_grpc.MonitorStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await monitor.GetPerformance(types_pb2.GetPerformanceRequest(window_seconds=901))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
