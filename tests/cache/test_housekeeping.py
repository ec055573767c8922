"""Warm and Cleanup over real gRPC, with Redis, DynamoDB (moto server) and a stand-in
analysis service that speaks the real AnalysisService protocol."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
import redis.asyncio as aioredis

from services.cache.app import build
from services.cache.config import Settings
from services.common.gen import (
    analysis_pb2,
    analysis_pb2_grpc,
    cache_pb2,
    cache_pb2_grpc,
    types_pb2,
)
from tests.cache.conftest import settings_for
from tests.conftest import MotoServer
from tests.servicers import running


class StandInAnalysis(analysis_pb2_grpc.AnalysisServiceServicer):  # type: ignore[misc]
    """Answers Analyze with a fixed result after ``delay_s``, recording requests."""

    def __init__(self, delay_s: float = 0.05) -> None:
        self.delay_s = delay_s
        self.requests: list[analysis_pb2.RunAnalysisRequest] = []

    async def Analyze(
        self, request: analysis_pb2.RunAnalysisRequest, context: grpc.aio.ServicerContext
    ) -> analysis_pb2.RunAnalysisResponse:
        self.requests.append(request)
        await asyncio.sleep(self.delay_s)
        return analysis_pb2.RunAnalysisResponse(
            analysis=types_pb2.Analysis(
                predicted_arr_usd=777, confidence=types_pb2.CONFIDENCE_HIGH, confidence_score=93
            ),
            sql="SELECT 2",
            compute_ms=1500,
        )


@dataclass
class Rig:
    stub: cache_pb2_grpc.CacheStub
    analysis: StandInAnalysis
    settings: Settings


@pytest.fixture
async def analysis() -> AsyncIterator[tuple[StandInAnalysis, int]]:
    servicer = StandInAnalysis()
    server = grpc.aio.server()
    analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(0)


@pytest.fixture
async def rig(
    redis_url: str, aws_env: MotoServer, analysis: tuple[StandInAnalysis, int]
) -> AsyncIterator[Rig]:
    servicer, port = analysis
    settings = settings_for(
        redis_url,
        aws_env,
        ANALYSIS_ADDRESS=f"127.0.0.1:{port}",
        CACHE_WARM_WINDOW_SECONDS="3600",
        CACHE_WARM_FROM_L2_ON_START="false",
    )
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            yield Rig(cache_pb2_grpc.CacheStub(channel), servicer, settings)


OPPORTUNITY = types_pb2.Opportunity(
    customer_name="Acme",
    region="Germany",
    close_date="2026-09-30",
    opportunity_name="SAP move",
    description="Move SAP ECC to AWS",
)


def entry(
    score: int, *, with_request: bool = True, compute_ms: float = 20_000
) -> cache_pb2.CacheEntry:
    stored = cache_pb2.CacheEntry(
        analysis=types_pb2.Analysis(confidence=types_pb2.CONFIDENCE_LOW, confidence_score=score),
        compute_ms=compute_ms,
    )
    if with_request:
        stored.opportunity.CopyFrom(OPPORTUNITY)
        stored.options.sql_row_limit = 120
    return stored


async def test_warm_reanalyses_popular_entries_near_expiry_within_budget(rig: Rig) -> None:
    stub = rig.stub
    # Low confidence: a 30-minute TTL, inside the 1 h warming window.
    await stub.Put(cache_pb2.CachePutRequest(key="hot", entry=entry(50)))
    await stub.Put(cache_pb2.CachePutRequest(key="norequest", entry=entry(50, with_request=False)))
    await stub.Put(cache_pb2.CachePutRequest(key="fresh", entry=entry(95)))  # 4 h: not due
    for key, times in (("hot", 5), ("norequest", 3), ("fresh", 2)):
        for _ in range(times):
            await stub.Get(cache_pb2.CacheGetRequest(key=key))
    reply = await stub.Warm(cache_pb2.CacheWarmRequest(top_k=3, budget_seconds=30))
    assert (reply.considered, reply.warmed, reply.skipped) == (3, 1, 2)
    assert list(reply.warmed_keys) == ["hot"]
    assert reply.compute_seconds == pytest.approx(1.5)
    [request] = rig.analysis.requests
    assert request.opportunity == OPPORTUNITY and request.options.sql_row_limit == 120
    got = await stub.Get(cache_pb2.CacheGetRequest(key="hot"))
    assert got.entry.analysis.predicted_arr_usd == 777
    assert got.entry.opportunity == OPPORTUNITY  # still re-runnable next time
    assert got.entry.expires_at_unix - time.time() > 3 * 3600


async def test_warm_stops_when_the_budget_is_spent(rig: Rig) -> None:
    rig.analysis.delay_s = 0.4
    for key in ("a", "b", "c"):
        await rig.stub.Put(cache_pb2.CachePutRequest(key=key, entry=entry(50)))
    started = time.monotonic()
    reply = await rig.stub.Warm(
        cache_pb2.CacheWarmRequest(keys=["a", "b", "c"], budget_seconds=0.5)
    )
    assert time.monotonic() - started < 3  # the budget bounds the run, analyses included
    assert reply.considered == 3 and reply.warmed + reply.skipped == 3
    # The first fits; the second starts with ~0.1 s left and is cut off at the budget.
    assert reply.warmed == 1 and len(rig.analysis.requests) == 2


async def test_warm_from_l2_copies_dynamodb_entries_into_redis(rig: Rig, redis_url: str) -> None:
    await rig.stub.Put(cache_pb2.CachePutRequest(key="l2only", entry=entry(95)))
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.delete("oppsuite:cache:{l2only}")
        reply = await rig.stub.Warm(cache_pb2.CacheWarmRequest(keys=["l2only"], from_l2=True))
        assert list(reply.warmed_keys) == ["l2only"] and not rig.analysis.requests
        assert await raw.pttl("oppsuite:cache:{l2only}") > 3 * 3600 * 1000
    finally:
        await raw.aclose()


async def test_service_start_warms_redis_from_dynamodb(redis_url: str, aws_env: MotoServer) -> None:
    settings = settings_for(redis_url, aws_env)
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = cache_pb2_grpc.CacheStub(channel)
            for key in ("s1", "s2"):
                await stub.Put(cache_pb2.CachePutRequest(key=key, entry=entry(95)))
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.flushall()  # Redis restarted empty; DynamoDB still has everything
        async with running(lambda: build(settings)):
            deadline = time.monotonic() + 20
            while await raw.exists("oppsuite:cache:{s1}", "oppsuite:cache:{s2}") < 2:
                assert time.monotonic() < deadline, "Redis was not warmed from DynamoDB"
                await asyncio.sleep(0.1)
    finally:
        await raw.aclose()


async def test_cleanup_is_a_dry_run_until_applied(rig: Rig, redis_url: str) -> None:
    stub = rig.stub
    await stub.Put(cache_pb2.CachePutRequest(key="keep", entry=entry(95, compute_ms=30_000)))
    await stub.Put(cache_pb2.CachePutRequest(key="poor", entry=entry(35, compute_ms=100)))
    for _ in range(20):
        await stub.Get(cache_pb2.CacheGetRequest(key="keep"))
    dry = await stub.Cleanup(cache_pb2.CacheCleanupRequest(min_score=40))
    assert not dry.applied and dry.scanned == 2 and dry.removed == 0
    assert [c.key for c in dry.candidates] == ["poor"]
    [poor] = dry.candidates
    assert poor.confidence_score == 35 and poor.size_bytes > 0 and poor.score < 40
    assert "low confidence" in poor.reason and "cheap to recompute" in poor.reason
    assert (await stub.Get(cache_pb2.CacheGetRequest(key="poor"))).hit

    applied = await stub.Cleanup(cache_pb2.CacheCleanupRequest(min_score=40, apply=True))
    assert applied.applied and applied.removed == 1 and applied.bytes_freed == poor.size_bytes
    assert not (await stub.Get(cache_pb2.CacheGetRequest(key="poor"))).hit
    assert (await stub.Get(cache_pb2.CacheGetRequest(key="keep"))).hit


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (cache_pb2.CacheWarmRequest(budget_seconds=-1), "budget_seconds"),
        (cache_pb2.CacheWarmRequest(keys=["bad key"]), "keys[0]"),
        (cache_pb2.CacheWarmRequest(top_k=100_000), "top_k"),
    ],
)
async def test_bad_warm_requests_are_invalid_argument(
    rig: Rig, request_: cache_pb2.CacheWarmRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await rig.stub.Warm(request_)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (raised.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as cleanup:
        await rig.stub.Cleanup(cache_pb2.CacheCleanupRequest(min_score=101))
    assert cleanup.value.code() == grpc.StatusCode.INVALID_ARGUMENT
