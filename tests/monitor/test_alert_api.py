"""ListAlerts, WatchAlerts, silences, GetCost, recommendations and /metrics over real gRPC/HTTP."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.gen import monitor_pb2, monitor_pb2_grpc, types_pb2
from services.common.server import ServiceHost
from services.common.telemetry import Telemetry
from services.monitor.app import build_monitor
from services.monitor.config import Settings
from services.monitor.core import MonitorCore

RULES = """
rules:
  - name: HighPoolUtilization
    group: pools
    signal: pool_utilization
    comparison: above
    warning: 0.80
    critical: 0.95
    for: 0s
    hold: 0s
    summary: pool busy
    look_at: the pool
"""


@pytest.fixture
async def served(
    tmp_path: Path,
) -> AsyncIterator[tuple[ServiceHost, MonitorCore, monitor_pb2_grpc.MonitorStub]]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {
        "MONITOR_PORT": "0",
        "MONITOR_METRICS_PORT": "0",
        "REDIS_URL": "",
        "ALERT_RULES_FILE": str(rules),
        "ALERT_EVAL_INTERVAL_SECONDS": "0.1",
        "COST_BUDGET_DAILY_USD": "10",
        "COST_BUDGET_MONTHLY_USD": "200",
    }
    host, core = await build_monitor(Settings.from_env(env))
    await host.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            yield host, core, monitor_pb2_grpc.MonitorStub(channel)
    finally:
        await host.stop()


async def send(
    stub: monitor_pb2_grpc.MonitorStub, telemetry: Telemetry, service: str = "analysis"
) -> None:
    call = stub.Report()
    await call.write(telemetry.take_report(service, f"{service}-1"))
    await call.done_writing()
    await call


def pools(**used: float) -> Telemetry:
    telemetry = Telemetry()
    for pool, value in used.items():
        telemetry.set_gauge("pool_utilization", value, pool=pool)
    return telemetry


async def until(predicate, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")


async def test_list_and_watch_alerts(served):
    _, _, stub = served
    watch = stub.WatchAlerts(monitor_pb2.WatchAlertsRequest(send_current=True))
    await send(stub, pools(bedrock=0.97))

    async def firing():
        listed = await stub.ListAlerts(monitor_pb2.ListAlertsRequest())
        return [a for a in listed.alerts if a.state == monitor_pb2.ALERT_STATE_FIRING]

    alerts = await until(firing)
    critical = next(a for a in alerts if a.severity == monitor_pb2.SEVERITY_CRITICAL)
    warning = next(a for a in alerts if a.severity == monitor_pb2.SEVERITY_WARNING)
    assert critical.labels["pool"] == "bedrock" and critical.value == pytest.approx(0.97)
    assert critical.threshold == 0.95 and critical.look_at == "the pool"
    assert warning.inhibited and not critical.inhibited
    seen = []
    async for event in watch:
        seen.append((event.alert.severity, event.previous, event.alert.state))
        if len(seen) == 4:
            break
    watch.cancel()
    assert {s for s in seen if s[2] == monitor_pb2.ALERT_STATE_FIRING} >= {
        (
            monitor_pb2.SEVERITY_CRITICAL,
            monitor_pb2.ALERT_STATE_PENDING,
            monitor_pb2.ALERT_STATE_FIRING,
        )
    }


async def test_silences_over_grpc(served):
    _, _, stub = served
    silence = await stub.CreateSilence(
        monitor_pb2.CreateSilenceRequest(
            matchers=[monitor_pb2.Matcher(name="pool", value="bedrock")],
            duration_seconds=600,
            author="ana",
            reason="resizing the pool",
        )
    )
    assert silence.id and silence.ends_at_unix - silence.starts_at_unix == pytest.approx(600)
    await send(stub, pools(bedrock=0.9))

    async def silenced():
        listed = await stub.ListAlerts(monitor_pb2.ListAlertsRequest())
        return [a for a in listed.alerts if list(a.silenced_by) == [silence.id]]

    await until(silenced)
    listed = await stub.ListAlerts(monitor_pb2.ListAlertsRequest())
    assert [s.id for s in listed.silences] == [silence.id]
    deleted = await stub.DeleteSilence(monitor_pb2.DeleteSilenceRequest(id=silence.id))
    assert deleted.reason == "resizing the pool"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.DeleteSilence(monitor_pb2.DeleteSilenceRequest(id=silence.id))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_bad_silence_is_invalid_argument_with_field_violations(served):
    _, _, stub = served
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateSilence(monitor_pb2.CreateSilenceRequest(author="a", reason="r"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["matchers", "ends_at_unix"]


async def test_get_cost_per_client_with_budgets_and_avoided_cost(served):
    _, _, stub = served
    analysis = Telemetry()
    analysis.inc("cost_usd_total", 3.5, client="crm")
    analysis.inc("cost_usd_total", 1.5, client="batch")
    await send(stub, analysis)
    gateway = Telemetry()
    gateway.inc("cost_avoided_usd_total", 2.25, source="redis")
    await send(stub, gateway, service="gateway")
    cost = await stub.GetCost(monitor_pb2.GetCostRequest())
    assert dict(cost.by_client_usd_day) == {"batch": 1.5, "crm": 3.5}
    assert cost.total_usd_day == 5.0 and cost.total_usd_month == 5.0
    assert cost.daily_budget_used == pytest.approx(0.5)
    assert cost.monthly_budget_used == pytest.approx(0.025)
    assert cost.avoided_usd_day == 2.25 and dict(cost.avoided_by_source_usd_month) == {
        "redis": 2.25
    }
    assert cost.day == time.strftime("%Y-%m-%d", time.gmtime())


async def test_performance_carries_recommendations(served):
    _, _, stub = served
    telemetry = Telemetry()
    telemetry.set_gauge("pool_utilization", 0.9, pool="athena")
    for _ in range(30):
        telemetry.inc("cache_requests_total", result="miss")
        telemetry.observe("step_ms", 14_000.0, step="data_retrieval")
    await send(stub, telemetry)
    report = await stub.GetPerformance(types_pb2.GetPerformanceRequest(window_seconds=60))
    text = "\n".join(report.recommendations)
    assert "Cache hit rate is 0%" in text and "oppsuite warm" in text
    assert "Pool athena is 90% utilized" in text
    assert "Step data_retrieval P95 is 14,0" in text and "Athena" in text


async def test_metrics_endpoint_exports_the_merged_view(served):
    host, _, stub = served
    telemetry = Telemetry()
    for ms in range(1, 101):
        telemetry.observe("request_ms", float(ms), source="miss")
        telemetry.inc("requests_total", outcome="ok", code="OK")
    telemetry.inc("cache_requests_total", 3, result="hit")
    telemetry.inc("cache_requests_total", 1, result="miss")
    telemetry.set_gauge("memory_rss_bytes", 600.0)
    telemetry.set_gauge("memory_limit_bytes", 1000.0)
    await send(stub, telemetry, service="gateway")
    url = f"http://127.0.0.1:{host.metrics_port}/metrics"

    async def scraped() -> set[str]:
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(url, timeout=5).read().decode()
        )
        lines = set(body.splitlines())
        # The view is prepared at each evaluation (every 0.1 s here): wait for this report.
        return lines if 'oppsuite_requests{window="5m"} 100.0' in lines else set()

    lines = await until(scraped)
    assert 'oppsuite_requests{window="5m"} 100.0' in lines
    assert 'oppsuite_cache_hit_ratio{tier="all",window="1m"} 0.75' in lines
    assert 'oppsuite_memory_usage_ratio{service="gateway"} 0.6' in lines
    p50 = next(
        line
        for line in lines
        if line.startswith('oppsuite_request_latency_ms{quantile="0.5",window="5m"}')
    )
    assert float(p50.split()[-1]) == pytest.approx(50.0, rel=0.01)
    assert (
        'oppsuite_alerts{alertname="HighPoolUtilization",severity="critical",state="firing"} 0.0'
        in lines
    )


def _cli(*argv: str):
    import argparse

    from services.monitor import cli

    parser = argparse.ArgumentParser(prog="oppsuite")
    cli.register(parser.add_subparsers(required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


async def test_cli_lists_alerts_and_manages_silences(served, capsys):
    host, _, stub = served
    target = f"127.0.0.1:{host.port}"
    await send(stub, pools(bedrock=0.97))

    async def listed():
        reply = await stub.ListAlerts(monitor_pb2.ListAlertsRequest())
        return any(a.state == monitor_pb2.ALERT_STATE_FIRING for a in reply.alerts)

    await until(listed)
    assert await asyncio.to_thread(_cli, "alerts", "--monitor", target, "list") == 0
    out = capsys.readouterr().out
    assert "firing   critical HighPoolUtilization" in out and "pool=bedrock" in out
    create = ["silence", "create", "--match", "alertname=~HighPool.*", "--duration", "30m"]
    create += ["--author", "ana", "--reason", "resize"]
    code = await asyncio.to_thread(_cli, "alerts", "--monitor", target, *create)
    assert code == 0
    silence_id = capsys.readouterr().out.split()[1]
    assert await asyncio.to_thread(_cli, "alerts", "--monitor", target, "list") == 0
    assert f"silence {silence_id} alertname=~HighPool.*" in capsys.readouterr().out
    assert (
        await asyncio.to_thread(
            _cli, "alerts", "--monitor", target, "silence", "delete", silence_id
        )
        == 0
    )
    assert (
        await asyncio.to_thread(
            _cli, "alerts", "--monitor", target, "silence", "delete", silence_id
        )
        == 1
    )
    assert "NOT_FOUND" in capsys.readouterr().err


async def test_two_real_reporters_merge_to_exact_percentiles_within_one_percent(served):
    import math
    import random

    from services.common.telemetry import MonitorReporter

    host, _, _ = served
    rng = random.Random(42)
    samples = {
        "gw-a": [rng.lognormvariate(math.log(120.0), 0.6) for _ in range(3_000)],
        "gw-b": [rng.lognormvariate(math.log(2_000.0), 0.9) for _ in range(1_000)],
    }
    target = f"127.0.0.1:{host.port}"
    reporters = []
    for instance, values in samples.items():
        telemetry = Telemetry()
        reporter = MonitorReporter(
            telemetry,
            lambda: grpc.aio.insecure_channel(target),
            service="gateway",
            instance=instance,
            interval_s=0.05,
        )
        await reporter.start()
        reporters.append(reporter)
        for start in range(0, len(values), 250):  # spread over several reports
            for value in values[start : start + 250]:
                telemetry.observe("request_ms", value, source="miss")
            await asyncio.sleep(0.06)
    for reporter in reporters:
        await reporter.stop()
    union = sorted(samples["gw-a"] + samples["gw-b"])
    async with grpc.aio.insecure_channel(target) as channel:
        stub = monitor_pb2_grpc.MonitorStub(channel)
        report = await stub.GetPerformance(types_pb2.GetPerformanceRequest(window_seconds=60))
    latency = report.total_latency
    assert latency.count == len(union)
    for q, got in (
        (0.5, latency.p50_ms),
        (0.9, latency.p90_ms),
        (0.95, latency.p95_ms),
        (0.99, latency.p99_ms),
    ):
        exact = union[math.floor(q * (len(union) - 1))]
        # The sketch's bound: every quantile within 1 % of the exact one of all raw samples.
        assert abs(got - exact) <= 0.01 * exact, (q, got, exact)
