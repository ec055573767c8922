"""Three gateway processes sharing one real Redis, in front of a real cache, a real
analysis service with a slow (Bedrock-like, scaled down) latency profile and a
real monitor: limits that hold across replicas, Redis killed and restarted,
admission under a slow provider, coalescing, near-cache invalidation, drain."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.client import SAMPLE_OPPORTUNITY
from services.common.gen import cache_pb2, cache_pb2_grpc, gateway_pb2, gateway_pb2_grpc, types_pb2
from services.common.rpc_errors import retry_delay_of
from services.launcher import Suite, scrape_total
from tests.conftest import RedisServer
from tests.integration.conftest import suite_config

pytestmark = pytest.mark.integration

KEYS = {
    "tests": "replica-tests-key-0123456789",
    "meter": "replica-meter-key-0123456789",
    "delay": "replica-delay-key-0123456789",
    "outage": "replica-outage-key-0123456789",
    "other": "replica-other-key-0123456789",
    "shadow": "replica-shadow-key-0123456789",
}
RATE_PER_S, BURST = 50, 50


def auth(client: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {KEYS[client]}"),)


@dataclass
class Replicas:
    suite: Suite
    gateways: list[str]  # addresses
    metrics: list[int]  # metrics ports
    procs: list[subprocess.Popen[bytes]]

    def metric(self, index: int, name: str) -> float:
        return scrape_total(self.metrics[index], name)

    def analyses(self) -> float:
        port = self.suite.config.metrics_ports["analysis"]
        return scrape_total(port, 'oppsuite_analysis_step_seconds_count{step="total"}')


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, data_dir: Path
) -> Iterator[Replicas]:
    config = suite_config(
        tmp_path_factory.mktemp("replicas"),
        redis_server,
        OPPSUITE_DATA_DIR=str(data_dir),
        GATEWAY_API_KEYS=",".join(f"{c}={k}" for c, k in KEYS.items()),
        CLIENT_LIMIT_OVERRIDES=f"meter={RATE_PER_S * 60}/{BURST},delay=20/1,outage=6/9,shadow=1/1",
        CLIENT_RATE_LIMIT_PER_MINUTE="100000",
        CLIENT_BURST_CAPACITY="10000",
        RATE_LIMIT_PER_MINUTE="1000000",
        BURST_CAPACITY="100000",
        GATEWAY_REPLICAS="3",
        # This machine is shared and loaded; exactness is about the algorithm, so give
        # Redis room rather than let a slow round trip flip a replica to local buckets.
        RATE_LIMIT_REDIS_TIMEOUT_MS="500",
        MAX_CONCURRENT_REQUESTS="2",
        MAX_QUEUE_SIZE="4",
        NEAR_CACHE_TTL_MS="30000",
        LOCAL_LATENCY_PROFILE="bedrock",
        LOCAL_LATENCY_SCALE="0.05",
    )
    suite = Suite(config)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        suite.ensure_dynamodb()  # the cache's L2: Invalidate goes to every tier
        suite.start_services()
        suite.wait_serving()
        addresses = [config.address("gateway")]
        metrics = [config.metrics_ports["gateway"]]
        for _ in range(2):
            address, port, proc = suite.start_gateway()
            addresses.append(address)
            metrics.append(port)
            procs.append(proc)
        yield Replicas(suite, addresses, metrics, procs)
    finally:
        suite.stop()  # the extra gateways first


def request(name: str = "Replica check") -> gateway_pb2.AnalyzeRequest:
    return gateway_pb2.AnalyzeRequest(
        opportunity=types_pb2.Opportunity(**{**SAMPLE_OPPORTUNITY, "opportunity_name": name})
    )


def stubs(replicas: Replicas) -> tuple[list[grpc.aio.Channel], list[gateway_pb2_grpc.GatewayStub]]:
    channels = [grpc.aio.insecure_channel(a) for a in replicas.gateways]
    return channels, [gateway_pb2_grpc.GatewayStub(c) for c in channels]


def quota_limit(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        quota = error_details_pb2.QuotaFailure()
        if detail.Unpack(quota):
            return quota.violations[0].description.split(":", 1)[0]
    return ""


async def test_the_client_limit_is_exact_across_three_replicas(replicas: Replicas) -> None:
    channels, gateways = stubs(replicas)
    try:
        warm = request("Limiter exactness")
        await gateways[0].Analyze(warm, metadata=auth("tests"), timeout=60)
        admitted, rejected, first, last = 0, 0, float("inf"), 0.0
        stop_at = time.monotonic() + 4.0

        async def hammer(stub: gateway_pb2_grpc.GatewayStub) -> None:
            nonlocal admitted, rejected, first, last
            while time.monotonic() < stop_at:
                sent = time.monotonic()
                try:
                    await stub.Analyze(warm, metadata=auth("meter"), timeout=10)
                    admitted += 1
                    first, last = min(first, sent), max(last, time.monotonic())
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    rejected += 1
                    first = min(first, sent)

        await asyncio.gather(*(hammer(g) for g in gateways for _ in range(4)))
        expected = BURST + RATE_PER_S * (last - first)
        assert rejected > admitted / 2  # the offered load really was over the limit
        assert abs(admitted - expected) <= 0.01 * expected + 1, (admitted, expected)
        decisions = sum(
            replicas.metric(
                i, 'oppsuite_gateway_ratelimit_decisions_total{backend="redis",outcome="allowed"}'
            )
            + replicas.metric(
                i, 'oppsuite_gateway_ratelimit_decisions_total{backend="redis",outcome="rejected"}'
            )
            for i in range(3)
        )
        trips = sum(
            replicas.metric(i, "oppsuite_gateway_ratelimit_redis_round_trips_total")
            for i in range(3)
        )
        assert trips / decisions < 1.05  # one EVALSHA per decision (plus script loads)
        local = sum(
            replicas.metric(i, 'oppsuite_gateway_ratelimit_decisions_total{backend="local"')
            for i in range(3)
        )
        assert local == 0
    finally:
        for channel in channels:
            await channel.close()


async def test_the_retry_delay_is_honoured_by_every_replica(replicas: Replicas) -> None:
    channels, gateways = stubs(replicas)
    try:
        warm = request("Retry delay")
        await gateways[0].Analyze(warm, metadata=auth("tests"), timeout=60)
        await gateways[0].Analyze(warm, metadata=auth("delay"), timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await gateways[1].Analyze(warm, metadata=auth("delay"), timeout=10)
        delay = retry_delay_of(raised.value)
        assert quota_limit(raised.value) == "client"
        assert delay is not None and 1.5 < delay <= 3.0  # 20/min: one per 3 s
        await asyncio.sleep(delay + 0.05)
        await gateways[2].Analyze(warm, metadata=auth("delay"), timeout=10)
    finally:
        for channel in channels:
            await channel.close()


async def test_fifty_identical_requests_over_three_replicas_run_one_analysis(
    replicas: Replicas,
) -> None:
    channels, gateways = stubs(replicas)
    try:
        before = replicas.analyses()
        unique = request(f"Coalescing {time.time_ns()}")
        replies = await asyncio.gather(
            *(
                gateways[i % 3].Analyze(unique, metadata=auth("tests"), timeout=60)
                for i in range(50)
            )
        )
        sources = [r.meta.cache_source for r in replies]
        leases = [
            {
                result: replicas.metric(i, f'oppsuite_gateway_lease_total{{result="{result}"}}')
                for result in ("granted", "granted_hit", "waited_hit", "waited_miss", "unavailable")
            }
            for i in range(3)
        ]
        assert replicas.analyses() - before == 1, (leases, sources)
        assert sources.count(types_pb2.CACHE_SOURCE_MISS) == 1
        assert sources.count(types_pb2.CACHE_SOURCE_COALESCED) == 49
    finally:
        for channel in channels:
            await channel.close()


async def test_an_invalidation_reaches_every_replicas_near_cache(replicas: Replicas) -> None:
    channels, gateways = stubs(replicas)
    try:
        unique = request(f"Near cache {time.time_ns()}")
        key = (await gateways[0].Analyze(unique, metadata=auth("tests"), timeout=60)).meta.cache_key
        for stub in gateways:  # fill every replica's near cache
            await stub.Analyze(unique, metadata=auth("tests"), timeout=10)
        for stub in gateways:
            again = await stub.Analyze(unique, metadata=auth("tests"), timeout=10)
            assert again.meta.cache_source == types_pb2.CACHE_SOURCE_NEAR
        async with grpc.aio.insecure_channel(replicas.suite.config.address("cache")) as channel:
            await cache_pb2_grpc.CacheStub(channel).Invalidate(
                cache_pb2.CacheInvalidateRequest(keys=[key]), timeout=5
            )
        deadline = time.monotonic() + 5
        sources: list[int] = []
        while time.monotonic() < deadline:
            invalidated = [
                replicas.metric(i, "oppsuite_gateway_near_cache_invalidations_total")
                for i in range(3)
            ]
            if all(v >= 1 for v in invalidated):
                break
            await asyncio.sleep(0.05)
        for stub in gateways:
            reply = await stub.Analyze(unique, metadata=auth("tests"), timeout=60)
            sources.append(reply.meta.cache_source)
        assert types_pb2.CACHE_SOURCE_NEAR not in sources
    finally:
        for channel in channels:
            await channel.close()


async def test_admission_with_a_slow_provider(replicas: Replicas) -> None:
    channels, gateways = stubs(replicas)
    stub = gateways[2]
    try:
        # Teach the replica the drain rate, then fill 2 slots + 4 queue places.
        warm = request(f"Warm {time.time_ns()}")
        await stub.Analyze(warm, metadata=auth("tests"), timeout=60)
        calls = [
            stub.Analyze(request(f"Slow {i} {time.time_ns()}"), metadata=auth("tests"), timeout=60)
            for i in range(6)
        ]
        deadline = time.monotonic() + 10
        while replicas.metric(2, "oppsuite_gateway_queued") < 4:
            assert time.monotonic() < deadline, "the queue did not fill"
            await asyncio.sleep(0.02)
        with pytest.raises(grpc.aio.AioRpcError) as full:
            # Same client as the waiters: it cannot push its own waiters out.
            await stub.Analyze(request("Queue full"), metadata=auth("tests"), timeout=60)
        assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert quota_limit(full.value) == "queue_full" and retry_delay_of(full.value)
        # A cached answer never waits in that queue.
        warm_reply = await stub.Analyze(warm, metadata=auth("tests"), timeout=5)
        assert warm_reply.meta.cache_source != types_pb2.CACHE_SOURCE_MISS
        # Cancelling queued callers frees their places at once.
        calls[-1].cancel()
        calls[-2].cancel()
        deadline = time.monotonic() + 5
        while replicas.metric(2, "oppsuite_gateway_queued") > 2:
            assert time.monotonic() < deadline, "cancelled waiters stayed queued"
            await asyncio.sleep(0.02)
        # A deadline that cannot be met is refused now, not after waiting.
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.Analyze(request("Too late"), metadata=auth("other"), timeout=0.9)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "cannot be met" in (late.value.details() or "")
        assert time.monotonic() - started < 0.8
        results = await asyncio.gather(*calls[:4], return_exceptions=True)
        assert all(isinstance(r, gateway_pb2.AnalyzeResponse) for r in results)
    finally:
        for channel in channels:
            await channel.close()


async def test_sigterm_drains_queued_callers_and_finishes_in_flight(replicas: Replicas) -> None:
    address, metrics, proc = replicas.suite.start_gateway(
        MAX_CONCURRENT_REQUESTS="1",
        SHUTDOWN_GRACE_SECONDS="20",
    )
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = gateway_pb2_grpc.GatewayStub(channel)
            running = stub.Analyze(
                request(f"Drain A {time.time_ns()}"), metadata=auth("tests"), timeout=60
            )
            deadline = time.monotonic() + 10
            while scrape_total(metrics, "oppsuite_gateway_in_flight") < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            queued = stub.Analyze(
                request(f"Drain B {time.time_ns()}"), metadata=auth("tests"), timeout=60
            )
            while scrape_total(metrics, "oppsuite_gateway_queued") < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(grpc.aio.AioRpcError) as told:
                await queued
            assert told.value.code() == grpc.StatusCode.UNAVAILABLE
            assert retry_delay_of(told.value) is not None
            reply = await running
            assert reply.meta.cache_source == types_pb2.CACHE_SOURCE_MISS
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


async def test_shadow_replica_and_a_stream_flood_that_cannot_starve_others(
    replicas: Replicas,
) -> None:
    address, metrics, proc = replicas.suite.start_gateway(
        RATE_LIMIT_SHADOW="true",
        MAX_CONCURRENT_REQUESTS="1",
        MAX_QUEUE_SIZE="4",
    )
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = gateway_pb2_grpc.GatewayStub(channel)
            # Shadow: "shadow" is limited to 1/min burst 1, yet nothing is rejected.
            warm = request(f"Shadow {time.time_ns()}")
            await stub.Analyze(warm, metadata=auth("tests"), timeout=60)
            for _ in range(4):
                await stub.Analyze(warm, metadata=auth("shadow"), timeout=60)
            shadow = 'oppsuite_gateway_ratelimit_rejected_total{limit="client",shadow="true"}'
            assert scrape_total(metrics, shadow) == 3
            # A flood of streams from one client fills the slot and the queue...
            tag = time.time_ns()
            flood = [
                stub.AnalyzeStream(request(f"Flood {tag} {i}"), metadata=auth("tests"), timeout=60)
                for i in range(30)
            ]
            firsts = await asyncio.gather(*(call.read() for call in flood), return_exceptions=True)
            queued = [f for f in firsts if isinstance(f, gateway_pb2.AnalyzeEvent)]
            assert any(e.WhichOneof("event") == "queued" for e in queued)
            assert scrape_total(metrics, "oppsuite_gateway_queued") == 4
            # ...but another client still gets in, and is served.
            other = stub.Analyze(request(f"Polite {tag}"), metadata=auth("other"), timeout=60)
            deadline = time.monotonic() + 5
            # 25 refused plus 1 pushed out of the queue
            while scrape_total(metrics, "oppsuite_gateway_rejections_total") < 26:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            # The flood gives up mid-queue; its places are freed at once.
            for call in flood:
                call.cancel()
            reply = await other
            assert reply.meta.cache_source == types_pb2.CACHE_SOURCE_MISS
            assert scrape_total(metrics, "oppsuite_gateway_queued") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Last: the other services recover from a Redis restart at their own pace.
async def test_redis_killed_and_restarted_mid_test(
    replicas: Replicas, redis_server: RedisServer
) -> None:
    channels, gateways = stubs(replicas)
    try:
        redis_server.stop()
        try:
            outcomes = []
            for _ in range(6):
                started = time.monotonic()
                try:
                    await gateways[0].Analyze(
                        request("During the outage"), metadata=auth("outage"), timeout=30
                    )
                    outcomes.append("OK")
                except grpc.aio.AioRpcError as error:
                    outcomes.append(f"{error.code().name}:{quota_limit(error)}")
                # Answered without stalling on the dead Redis (analysis time aside).
                assert time.monotonic() - started < 10
            # Local bucket: 6/min ÷ 3 replicas = one per 30 s, starting with one request
            # available (nobody knows how much burst was spent before the outage).
            assert outcomes[0] == "OK"
            assert outcomes[1:] == ["RESOURCE_EXHAUSTED:client"] * 5
            assert replicas.metric(0, "oppsuite_gateway_ratelimit_degraded") == 1
        finally:
            redis_server.start()
        deadline = time.monotonic() + 20
        while replicas.metric(0, "oppsuite_gateway_ratelimit_degraded") != 0:
            assert time.monotonic() < deadline, "the limiter did not go back to Redis"
            await gateways[0].Analyze(request("Recovery"), metadata=auth("tests"), timeout=30)
            await asyncio.sleep(0.3)
        before = replicas.metric(0, "oppsuite_gateway_ratelimit_redis_round_trips_total")
        await gateways[0].Analyze(request("Recovery"), metadata=auth("tests"), timeout=30)
        assert replicas.metric(0, "oppsuite_gateway_ratelimit_redis_round_trips_total") > before
    finally:
        for channel in channels:
            await channel.close()
