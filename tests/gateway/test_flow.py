"""Gateways over real gRPC in front of a cache that leases as the contract says,
a scripted analysis service, a real monitor and a real Redis (limits, pub/sub)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import grpc
import pytest
import redis.asyncio as aioredis
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.client import SAMPLE_OPPORTUNITY
from services.common.domain import Options
from services.common.gen import gateway_pb2, gateway_pb2_grpc, types_pb2
from services.common.rpc_errors import retry_delay_of
from services.common.server import ServiceHost
from services.common.telemetry import Telemetry
from services.common.validation import validate_request
from services.gateway.admission import Admission
from services.gateway.app import build as build_gateway
from services.gateway.config import Settings
from services.gateway.errors import QueueFull
from services.gateway.nearcache import INVALIDATION_CHANNEL
from services.gateway.pipeline import Pipeline, Request
from services.gateway.upstream import AnalysisClient, CacheClient
from services.monitor.app import build as build_monitor
from services.monitor.config import Settings as MonitorSettings
from tests.gateway.fakes import (
    HeldLease,
    LeasingCache,
    ScriptedAnalysis,
    serve_analysis,
    serve_cache,
)

KEY = "flow-test-key-0123456789"
OTHER = "flow-other-key-0123456789"
AUTH = (("authorization", f"Bearer {KEY}"),)
OTHER_AUTH = (("authorization", f"Bearer {OTHER}"),)


@dataclass
class World:
    cache: LeasingCache
    analysis: ScriptedAnalysis
    cache_port: int
    analysis_port: int
    redis_url: str
    monitor_port: int = 0


def settings(world: World, **env: str) -> Settings:
    return Settings.from_env(
        {
            "GATEWAY_PORT": "0",
            "GATEWAY_METRICS_PORT": "-1",
            "GATEWAY_API_KEYS": f"tests={KEY},other={OTHER}",
            "CACHE_ADDRESS": f"127.0.0.1:{world.cache_port}",
            "ANALYSIS_ADDRESS": f"127.0.0.1:{world.analysis_port}",
            "MONITOR_ADDRESS": f"127.0.0.1:{world.monitor_port}" if world.monitor_port else "",
            "REDIS_URL": world.redis_url,
            "CACHE_TIMEOUT_MS": "500",
            "NEAR_CACHE_TTL_MS": "0",
            **env,
        }
    )


@pytest.fixture
async def world(redis_url: str) -> AsyncIterator[World]:
    cache, analysis = LeasingCache(), ScriptedAnalysis()
    cache_host, analysis_host = await serve_cache(cache), await serve_analysis(analysis)
    try:
        yield World(cache, analysis, cache_host.port, analysis_host.port, redis_url)
    finally:
        await cache_host.stop()
        await analysis_host.stop()


async def wait_ready(host: ServiceHost) -> None:
    for _ in range(100):
        await host.check_now()
        if all(host.component_status.values()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"gateway not serving: {host.component_status}")


@dataclass
class Gateway:
    host: ServiceHost
    stub: gateway_pb2_grpc.GatewayStub
    channel: grpc.aio.Channel


async def start_gateway(world: World, **env: str) -> Gateway:
    host = await build_gateway(settings(world, **env))
    await host.start()
    await wait_ready(host)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{host.port}")
    return Gateway(host, gateway_pb2_grpc.GatewayStub(channel), channel)


async def stop(*gateways: Gateway) -> None:
    for g in gateways:
        await g.channel.close()
        await g.host.stop()


def request(**changes: str) -> gateway_pb2.AnalyzeRequest:
    return gateway_pb2.AnalyzeRequest(
        opportunity=types_pb2.Opportunity(**{**SAMPLE_OPPORTUNITY, **changes})
    )


def quota_of(error: grpc.aio.AioRpcError) -> error_details_pb2.QuotaFailure:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        quota = error_details_pb2.QuotaFailure()
        if detail.Unpack(quota):
            return quota
    raise AssertionError("no QuotaFailure detail")


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_identical_misses_on_two_replicas_share_one_analysis(world: World) -> None:
    world.analysis.delay_s = 0.5
    a, b = await start_gateway(world), await start_gateway(world)
    try:
        replies = await asyncio.gather(
            *(g.stub.Analyze(request(), metadata=AUTH, timeout=10) for g in (a, b) * 10)
        )
        sources = [r.meta.cache_source for r in replies]
        assert world.analysis.calls == 1
        assert sources.count(types_pb2.CACHE_SOURCE_MISS) == 1
        assert sources.count(types_pb2.CACHE_SOURCE_COALESCED) == 19
        assert world.cache.waits == 1  # one replica waited on the other's lease
        assert world.cache.leases == {}  # released after the put
    finally:
        await stop(a, b)


async def test_concurrent_lookups_share_batch_gets_and_each_gets_its_own_entry(
    world: World,
) -> None:
    gateway = await start_gateway(world)
    try:
        names = [f"Customer {i}" for i in range(30)]
        first = [
            await gateway.stub.Analyze(request(customer_name=n), metadata=AUTH, timeout=10)
            for n in names
        ]
        # Mark every stored entry so each reply can be matched to its own key.
        marks = {r.meta.cache_key: 1000 + i for i, r in enumerate(first)}
        for key, mark in marks.items():
            world.cache.entries[key].analysis.predicted_arr_usd = mark
        world.cache.get_delay_s = 0.05  # lookups pile up behind the first ones
        hits_before = world.cache.hits
        replies = await asyncio.gather(
            *(
                gateway.stub.Analyze(request(customer_name=n), metadata=AUTH, timeout=10)
                for n in names
            )
        )
        assert all(r.meta.cache_source == types_pb2.CACHE_SOURCE_REDIS for r in replies)
        assert [r.analysis.predicted_arr_usd for r in replies] == [
            marks[r.meta.cache_key] for r in replies
        ]
        assert world.cache.hits - hits_before == 30
        assert world.cache.batch_gets >= 1  # some of the 30 lookups went together
    finally:
        await stop(gateway)


async def test_a_holder_that_fails_lets_the_waiter_compute(world: World) -> None:
    # Another replica holds the lease and never writes: the wait ends when the lease
    # is released and this replica computes itself.
    a = await start_gateway(world)
    try:
        key = (await a.stub.Analyze(request(), metadata=AUTH, timeout=10)).meta.cache_key
        world.cache.entries.clear()
        world.cache.leases[key] = HeldLease("other", "elsewhere", time.monotonic() + 0.3)
        started = time.monotonic()
        reply = await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        assert reply.meta.cache_source == types_pb2.CACHE_SOURCE_MISS
        assert world.analysis.calls == 2
        assert time.monotonic() - started < 3.0
    finally:
        await stop(a)


async def test_rate_limits_answer_resource_exhausted_with_exact_details(world: World) -> None:
    # 30/min: one request per 2 s, so a slow machine cannot refill a token mid-test.
    a = await start_gateway(world, CLIENT_RATE_LIMIT_PER_MINUTE="30", CLIENT_BURST_CAPACITY="2")
    try:
        for _ in range(2):
            await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        delay = retry_delay_of(raised.value)
        assert delay is not None and 1.0 < delay <= 2.0
        quota = quota_of(raised.value)
        assert quota.violations[0].subject == "client:tests"
        assert quota.violations[0].description.startswith("client:")
        # Another client is unaffected; claiming its identity in metadata is not.
        await a.stub.Analyze(request(), metadata=OTHER_AUTH, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await a.stub.Analyze(request(), metadata=(*AUTH, ("x-client-id", "other")), timeout=10)
        assert again.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await asyncio.sleep(delay + 0.05)
        await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
    finally:
        await stop(a)


async def test_overrides_in_the_key_configuration_apply(world: World) -> None:
    a = await start_gateway(
        world,
        CLIENT_RATE_LIMIT_PER_MINUTE="6",
        CLIENT_BURST_CAPACITY="1",
        CLIENT_LIMIT_OVERRIDES="other=6/4",
    )
    try:
        codes = []
        for _ in range(5):
            try:
                await a.stub.Analyze(request(), metadata=OTHER_AUTH, timeout=10)
                codes.append("OK")
            except grpc.aio.AioRpcError as error:
                codes.append(error.code().name)
        assert codes == ["OK"] * 4 + ["RESOURCE_EXHAUSTED"]
    finally:
        await stop(a)


async def test_shadow_mode_never_rejects(world: World) -> None:
    a = await start_gateway(
        world,
        CLIENT_RATE_LIMIT_PER_MINUTE="1",  # no refill within the test, however slow
        CLIENT_BURST_CAPACITY="1",
        RATE_LIMIT_SHADOW="true",
    )
    try:
        for _ in range(4):
            await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        text = _scrape(a.host)
        assert 'oppsuite_gateway_ratelimit_rejected_total{limit="client",shadow="true"} 3.0' in text
    finally:
        await stop(a)


def _scrape(host: ServiceHost) -> str:
    from prometheus_client import generate_latest

    return generate_latest(host.registry).decode()


async def test_queue_full_and_stream_positions(world: World) -> None:
    world.analysis.delay_s = 0.6
    a = await start_gateway(world, MAX_CONCURRENT_REQUESTS="1", MAX_QUEUE_SIZE="1")
    try:
        first = asyncio.ensure_future(
            a.stub.Analyze(request(opportunity_name="one"), metadata=AUTH, timeout=10)
        )
        await until(lambda: world.analysis.running == 1)
        stream = a.stub.AnalyzeStream(request(opportunity_name="two"), metadata=AUTH, timeout=10)
        events = []
        async for event in stream:
            events.append(event)
            if len(events) == 1:
                assert event.WhichOneof("event") == "queued" and event.queued.position == 1
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await a.stub.Analyze(request(opportunity_name="three"), metadata=AUTH)
                assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert quota_of(raised.value).violations[0].description.startswith("queue_full:")
        kinds = [e.WhichOneof("event") for e in events]
        assert kinds[0] == "queued" and "step" in kinds and kinds[-1] == "result"
        assert events[-1].result.meta.queue_wait_ms > 100
        await first
    finally:
        await stop(a)


async def test_a_cancelled_queued_caller_frees_its_place(world: World) -> None:
    world.analysis.delay_s = 0.8
    a = await start_gateway(world, MAX_CONCURRENT_REQUESTS="1", MAX_QUEUE_SIZE="1")
    try:
        first = asyncio.ensure_future(
            a.stub.Analyze(request(opportunity_name="one"), metadata=AUTH, timeout=10)
        )
        await until(lambda: world.analysis.running == 1)
        waiting = a.stub.Analyze(request(opportunity_name="two"), metadata=AUTH, timeout=10)
        await until(lambda: a.host is not None and _queued(a) == 1)
        waiting.cancel()
        await until(lambda: _queued(a) == 0)
        # The freed place is usable at once by another client.
        other = asyncio.ensure_future(
            a.stub.Analyze(request(opportunity_name="three"), metadata=OTHER_AUTH, timeout=10)
        )
        await until(lambda: _queued(a) == 1)
        await first
        assert (await other).meta.cache_source == types_pb2.CACHE_SOURCE_MISS
        assert world.analysis.calls == 2  # the cancelled one never ran
    finally:
        await stop(a)


def _queued(g: Gateway) -> int:
    for line in _scrape(g.host).splitlines():
        if line.startswith("oppsuite_gateway_queued "):
            return int(float(line.split()[1]))
    return -1


async def test_drain_answers_queued_callers_and_finishes_in_flight(world: World) -> None:
    world.analysis.delay_s = 1.0
    a = await start_gateway(world, MAX_CONCURRENT_REQUESTS="1", SHUTDOWN_GRACE_SECONDS="5")
    try:
        running = asyncio.ensure_future(
            a.stub.Analyze(request(opportunity_name="one"), metadata=AUTH, timeout=10)
        )
        await until(lambda: world.analysis.running == 1)
        queued = asyncio.ensure_future(
            a.stub.Analyze(request(opportunity_name="two"), metadata=AUTH, timeout=10)
        )
        await until(lambda: _queued(a) == 1)
        stopping = asyncio.create_task(a.host.stop())
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await queued
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert retry_delay_of(raised.value) == pytest.approx(1.0)
        reply = await running
        assert reply.meta.cache_source == types_pb2.CACHE_SOURCE_MISS
        await stopping
    finally:
        await a.channel.close()


async def test_near_cache_serves_and_is_invalidated_over_pub_sub(world: World) -> None:
    a = await start_gateway(world, NEAR_CACHE_TTL_MS="30000")
    try:
        first = await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        await until(lambda: _metric(a, "oppsuite_gateway_near_cache_subscribed") == 1)
        second = await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        near = await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        # Filled on reads from the cache service, not by this replica's own writes.
        assert first.meta.cache_source == types_pb2.CACHE_SOURCE_MISS
        assert second.meta.cache_source == types_pb2.CACHE_SOURCE_REDIS
        assert near.meta.cache_source == types_pb2.CACHE_SOURCE_NEAR
        publisher = aioredis.Redis.from_url(world.redis_url)
        await publisher.publish(INVALIDATION_CHANNEL, first.meta.cache_key)
        await publisher.aclose()
        await until(lambda: _metric(a, "oppsuite_gateway_near_cache_invalidations_total") == 1)
        third = await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        assert third.meta.cache_source == types_pb2.CACHE_SOURCE_REDIS
    finally:
        await stop(a)


def _metric(g: Gateway, name: str) -> float:
    for line in _scrape(g.host).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


async def test_performance_is_enriched_with_tiers_queue_and_rejections(world: World) -> None:
    monitor = await build_monitor(
        MonitorSettings.from_env({"MONITOR_PORT": "0", "MONITOR_METRICS_PORT": "-1"})
    )
    await monitor.start()
    world.monitor_port = monitor.port
    a = await start_gateway(world, CLIENT_RATE_LIMIT_PER_MINUTE="6", CLIENT_BURST_CAPACITY="2")
    try:
        await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError):
            await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        report = await a.stub.GetPerformance(
            types_pb2.GetPerformanceRequest(window_seconds=60), metadata=OTHER_AUTH, timeout=5
        )
        hits, misses = world.cache.hits, world.cache.misses
        assert hits >= 1 and misses >= 1
        assert report.cache_hit_rate_by_tier["redis"] == pytest.approx(hits / (hits + misses))
        assert report.rejections_by_reason["client"] >= 1
        assert report.memory_rss_bytes["gateway"] > 0
    finally:
        await stop(a)
        await monitor.stop()


async def test_an_early_refresh_recomputes_in_the_background_once(world: World) -> None:
    a = await start_gateway(world)
    try:
        await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        assert (world.analysis.calls, world.cache.puts) == (1, 1)
        world.cache.refresh_early = True
        world.analysis.delay_s = 0.3
        replies = await asyncio.gather(
            *(a.stub.Analyze(request(), metadata=AUTH, timeout=10) for _ in range(5))
        )
        # Every caller is answered from the cache at once; one refresh runs behind.
        assert {r.meta.cache_source for r in replies} == {types_pb2.CACHE_SOURCE_REDIS}
        await until(lambda: world.cache.puts == 2)
        assert world.analysis.calls == 2
        assert _metric(a, 'oppsuite_gateway_early_refresh_total{result="stored"}') == 1
    finally:
        await stop(a)


async def test_no_early_refresh_without_an_idle_slot(world: World) -> None:
    world.analysis.delay_s = 0.5
    a = await start_gateway(world, MAX_CONCURRENT_REQUESTS="1")
    try:
        await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        world.cache.refresh_early = True
        busy = asyncio.ensure_future(
            a.stub.Analyze(request(opportunity_name="busy"), metadata=AUTH, timeout=10)
        )
        await until(lambda: world.analysis.running == 1)
        reply = await a.stub.Analyze(request(), metadata=AUTH, timeout=10)
        assert reply.meta.cache_source == types_pb2.CACHE_SOURCE_REDIS
        await busy
        assert world.analysis.calls == 2  # the first miss and "busy"; no refresh
    finally:
        await stop(a)


async def test_telemetry_counts_sources_rejections_and_cost_avoided(world: World) -> None:
    telemetry = Telemetry()
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{world.cache_port}") as cache_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{world.analysis_port}") as analysis_channel,
    ):
        pipeline = Pipeline(
            CacheClient(cache_channel, timeout_s=1, put_timeout_s=1),
            AnalysisClient(analysis_channel),
            telemetry,
            admission=Admission(max_concurrent=1, max_queue=0, queue_timeout_s=5),
        )
        assert await pipeline.refresh_fingerprint()
        opportunity, _ = validate_request(request().opportunity, None)

        def req(name: str = "") -> Request:
            opp = replace(opportunity, opportunity_name=name) if name else opportunity
            return Request(opp, Options(), "tests", "rid", 10.0)

        await pipeline.analyze(req())  # miss
        await pipeline.analyze(req())  # redis hit: the entry's cost is avoided
        world.analysis.delay_s = 0.3
        busy = asyncio.create_task(pipeline.analyze(req("busy")))
        await until(lambda: world.analysis.running == 1)
        with pytest.raises(QueueFull):
            await pipeline.analyze(req("no room"))
        await busy
    report = telemetry.take_report("gateway", "test")
    assert report is not None
    counters = {(c.name, tuple(sorted(c.labels.items()))): c.value for c in report.counters}
    assert counters[("cost_avoided_usd_total", (("source", "redis"),))] == pytest.approx(0.02)
    assert counters[("rejections_total", (("reason", "queue_full"),))] == 1
    assert counters[("cache_requests_total", (("result", "hit"),))] == 1
    sources = {tuple(h.labels.items()) for h in report.histograms if h.name == "request_ms"}
    assert sources == {(("source", "miss"),), (("source", "redis"),)}
