"""The gateway over real gRPC, in front of a real cache service (real Redis) and a
scripted analysis service that speaks the real contract."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.cache.app import build as build_cache
from services.cache.config import Settings as CacheSettings
from services.client import SAMPLE_OPPORTUNITY
from services.common.gen import (
    analysis_pb2,
    analysis_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    types_pb2,
)
from services.common.rpc_errors import retry_delay_of
from services.common.server import ServiceHost, ServiceSpec
from services.gateway.app import build as build_gateway
from services.gateway.config import Settings as GatewaySettings
from tests.conftest import free_port
from tests.servicers import running

KEY = "servicer-test-key-0123456789"


@dataclass
class ScriptedAnalysis(analysis_pb2_grpc.AnalysisServiceServicer):  # type: ignore[misc]
    """Stands in for the analysis service: answers Describe, and Analyze as told."""

    delay_s: float = 0.0
    fail_with: grpc.StatusCode | None = None
    calls: int = 0
    requests: list[analysis_pb2.RunAnalysisRequest] = field(default_factory=list)

    async def Describe(self, request, context):
        return analysis_pb2.DescribeResponse(provider="scripted", schema_version="1")

    async def Analyze(self, request, context):
        self.calls += 1
        self.requests.append(request)
        await asyncio.sleep(self.delay_s)
        if self.fail_with is not None:
            await context.abort(self.fail_with, "scripted failure")
        return analysis_pb2.RunAnalysisResponse(
            analysis=types_pb2.Analysis(
                predicted_arr_usd=1_500_000,
                predicted_mrr_usd=120_000,
                confidence=types_pb2.CONFIDENCE_HIGH,
                confidence_score=91,
            ),
            steps=[types_pb2.StepTiming(step="total", duration_ms=5, threshold_ms=30000)],
            sql="SELECT 1 LIMIT 200",
            row_count=12,
            compute_ms=5,
        )


@dataclass
class Stack:
    gateway: gateway_pb2_grpc.GatewayStub
    analysis: ScriptedAnalysis
    host: ServiceHost


async def start_analysis(scripted: ScriptedAnalysis, port: int = 0) -> ServiceHost:
    spec = ServiceSpec(
        name="analysis",
        service_names=["oppsuite.v1.AnalysisService"],
        register=lambda s: analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(scripted, s),
    )
    host = ServiceHost(spec, port=port, metrics_port=-1)
    await host.start()
    return host


def gateway_settings(cache_port: int, analysis_port: int) -> GatewaySettings:
    return GatewaySettings.from_env(
        {
            "GATEWAY_PORT": "0",
            "GATEWAY_METRICS_PORT": "-1",
            "GATEWAY_API_KEYS": f"tests={KEY}",
            "CACHE_ADDRESS": f"127.0.0.1:{cache_port}",
            "ANALYSIS_ADDRESS": f"127.0.0.1:{analysis_port}",
            "MONITOR_ADDRESS": "",
            "CACHE_TIMEOUT_MS": "200",
            # These tests are about the cache service; the near cache has its own.
            "NEAR_CACHE_TTL_MS": "0",
        }
    )


@pytest.fixture
async def stack(redis_url: str) -> AsyncIterator[Stack]:
    scripted = ScriptedAnalysis()
    analysis = await start_analysis(scripted)
    cache_settings = CacheSettings.from_env(
        {
            "CACHE_PORT": "0",
            "CACHE_METRICS_PORT": "-1",
            "MONITOR_ADDRESS": "",
            "REDIS_URL": redis_url,
        }
    )
    async with running(lambda: build_cache(cache_settings)) as cache:
        settings = gateway_settings(cache.port, analysis.port)
        async with running(lambda: build_gateway(settings)) as gateway:
            await wait_serving(gateway)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
                yield Stack(gateway_pb2_grpc.GatewayStub(channel), scripted, gateway)
    await analysis.stop()


async def wait_serving(host: ServiceHost) -> None:
    for _ in range(50):
        await host.check_now()
        if all(host.component_status.values()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"gateway not serving: {host.component_status}")


def analyze_request(**changes: object) -> gateway_pb2.AnalyzeRequest:
    return gateway_pb2.AnalyzeRequest(
        opportunity=types_pb2.Opportunity(**{**SAMPLE_OPPORTUNITY, **changes}),
    )


AUTH = (("authorization", f"Bearer {KEY}"),)


async def test_miss_then_hit(stack: Stack) -> None:
    first = await stack.gateway.Analyze(analyze_request(), metadata=AUTH)
    second = await stack.gateway.Analyze(analyze_request(), metadata=AUTH)
    assert first.meta.cache_source == types_pb2.CACHE_SOURCE_MISS
    assert second.meta.cache_source == types_pb2.CACHE_SOURCE_REDIS
    assert second.analysis == first.analysis and stack.analysis.calls == 1
    assert stack.analysis.requests[0].client_id == "tests"


async def test_equivalent_spellings_share_one_cache_entry(stack: Stack) -> None:
    await stack.gateway.Analyze(analyze_request(), metadata=AUTH)
    respelled = analyze_request(
        customer_name="  northwind   HEALTH ", region="united states", industry="HEALTHCARE"
    )
    again = await stack.gateway.Analyze(respelled, metadata=AUTH)
    assert again.meta.cache_source == types_pb2.CACHE_SOURCE_REDIS


async def test_identical_concurrent_requests_share_one_analysis(stack: Stack) -> None:
    stack.analysis.delay_s = 0.3
    replies = await asyncio.gather(
        *(stack.gateway.Analyze(analyze_request(), metadata=AUTH) for _ in range(20))
    )
    sources = [r.meta.cache_source for r in replies]
    assert stack.analysis.calls == 1
    assert sources.count(types_pb2.CACHE_SOURCE_MISS) == 1
    assert sources.count(types_pb2.CACHE_SOURCE_COALESCED) == 19


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
        (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.DEADLINE_EXCEEDED),
        (grpc.StatusCode.ABORTED, grpc.StatusCode.ABORTED),
        (grpc.StatusCode.INTERNAL, grpc.StatusCode.INTERNAL),
    ],
)
async def test_analysis_failures_map_to_clear_statuses_and_are_not_cached(
    stack: Stack, upstream: grpc.StatusCode, expected: grpc.StatusCode
) -> None:
    stack.analysis.fail_with = upstream
    for attempt in (1, 2):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stack.gateway.Analyze(analyze_request(), metadata=AUTH)
        assert raised.value.code() == expected
        assert "Traceback" not in (raised.value.details() or "")
        assert stack.analysis.calls == attempt
    if expected == grpc.StatusCode.UNAVAILABLE:
        assert retry_delay_of(raised.value) == pytest.approx(1.0)


async def test_the_callers_deadline_reaches_the_analysis(stack: Stack) -> None:
    stack.analysis.delay_s = 2.0
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.gateway.Analyze(analyze_request(), metadata=AUTH, timeout=0.5)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.5


async def test_an_unreachable_cache_degrades_to_computing(redis_url: str) -> None:
    scripted = ScriptedAnalysis()
    analysis = await start_analysis(scripted)
    settings = gateway_settings(free_port(), analysis.port)
    try:
        async with running(lambda: build_gateway(settings)) as host:
            await wait_serving(host)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
                stub = gateway_pb2_grpc.GatewayStub(channel)
                started = time.monotonic()
                reply = await stub.Analyze(analyze_request(), metadata=AUTH, timeout=5)
                assert reply.meta.cache_source == types_pb2.CACHE_SOURCE_MISS
                assert reply.analysis.predicted_arr_usd == 1_500_000
                assert time.monotonic() - started < 2.0
    finally:
        await analysis.stop()


async def test_not_serving_and_unavailable_until_the_analysis_service_answers() -> None:
    analysis_port = free_port()
    settings = gateway_settings(free_port(), analysis_port)
    async with running(lambda: build_gateway(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service="oppsuite.v1.Gateway"))
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await gateway_pb2_grpc.GatewayStub(channel).Analyze(
                    analyze_request(), metadata=AUTH, timeout=5
                )
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            analysis = await start_analysis(ScriptedAnalysis(), port=analysis_port)
            try:
                await wait_serving(host)
                reply = await health.Check(
                    health_pb2.HealthCheckRequest(service="oppsuite.v1.Gateway")
                )
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            finally:
                await analysis.stop()


async def test_metadata_claiming_another_client_changes_nothing(stack: Stack) -> None:
    await stack.gateway.Analyze(
        analyze_request(), metadata=(*AUTH, ("x-client-id", "someone-else"))
    )
    assert stack.analysis.requests[0].client_id == "tests"
