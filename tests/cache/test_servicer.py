"""The cache service over real gRPC, with a real Redis behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
import pytest

from services.cache.app import build
from services.cache.census import CensusPolicy
from services.common.gen import cache_pb2, cache_pb2_grpc, types_pb2
from tests.cache.conftest import settings_for
from tests.conftest import MotoServer, RedisServer
from tests.servicers import running


@pytest.fixture
async def cache(redis_url: str, aws_env: MotoServer) -> AsyncIterator[cache_pb2_grpc.CacheStub]:
    settings = settings_for(redis_url, aws_env)
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            yield cache_pb2_grpc.CacheStub(channel)


def entry(score: int) -> cache_pb2.CacheEntry:
    return cache_pb2.CacheEntry(
        analysis=types_pb2.Analysis(
            predicted_arr_usd=1_200_000,
            confidence=types_pb2.CONFIDENCE_HIGH,
            confidence_score=score,
        ),
        sql="SELECT 1",
        compute_ms=2500,
    )


async def test_put_then_get_is_a_redis_hit_with_ttl_by_confidence(
    cache: cache_pb2_grpc.CacheStub,
) -> None:
    put = await cache.Put(cache_pb2.CachePutRequest(key="opp:v1:a", entry=entry(95)))
    assert put.stored and put.ttl_seconds == 4 * 3600
    got = await cache.Get(cache_pb2.CacheGetRequest(key="opp:v1:a"))
    assert got.hit and got.source == types_pb2.CACHE_SOURCE_REDIS
    assert got.entry.analysis.predicted_arr_usd == 1_200_000
    assert got.entry.expires_at_unix - got.entry.created_at_unix == pytest.approx(4 * 3600)
    low = await cache.Put(cache_pb2.CachePutRequest(key="opp:v1:b", entry=entry(40)))
    assert low.ttl_seconds == 1800


async def test_a_missing_key_is_a_miss(cache: cache_pb2_grpc.CacheStub) -> None:
    got = await cache.Get(cache_pb2.CacheGetRequest(key="opp:v1:none"))
    assert not got.hit and got.source == types_pb2.CACHE_SOURCE_MISS


async def test_batch_get_keeps_request_order(cache: cache_pb2_grpc.CacheStub) -> None:
    await cache.BatchPut(
        cache_pb2.CacheBatchPutRequest(
            items=[cache_pb2.CachePutRequest(key=f"k{i}", entry=entry(80)) for i in (1, 3)]
        )
    )
    reply = await cache.BatchGet(cache_pb2.CacheBatchGetRequest(keys=["k3", "k2", "k1"]))
    assert [r.hit for r in reply.results] == [True, False, True]


async def test_invalidate_removes_entries(cache: cache_pb2_grpc.CacheStub) -> None:
    await cache.Put(cache_pb2.CachePutRequest(key="gone", entry=entry(90)))
    reply = await cache.Invalidate(cache_pb2.CacheInvalidateRequest(keys=["gone", "never"]))
    assert reply.removed == 1
    assert not (await cache.Get(cache_pb2.CacheGetRequest(key="gone"))).hit


async def test_an_entry_without_analysis_is_never_stored(cache: cache_pb2_grpc.CacheStub) -> None:
    reply = await cache.Put(cache_pb2.CachePutRequest(key="err", entry=cache_pb2.CacheEntry()))
    assert not reply.stored


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.Get(cache_pb2.CacheGetRequest(key="")), "key"),
        (lambda s: s.Get(cache_pb2.CacheGetRequest(key="has space")), "key"),
        (lambda s: s.BatchGet(cache_pb2.CacheBatchGetRequest(keys=[])), "keys"),
        (lambda s: s.BatchGet(cache_pb2.CacheBatchGetRequest(keys=["k"] * 1001)), "keys"),
        (lambda s: s.Invalidate(cache_pb2.CacheInvalidateRequest(keys=[])), "keys"),
    ],
)
async def test_bad_requests_are_invalid_argument(
    cache: cache_pb2_grpc.CacheStub, call: object, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(cache)  # type: ignore[operator]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (raised.value.details() or "")


async def test_stats_count_hits_misses_and_saved_compute(cache: cache_pb2_grpc.CacheStub) -> None:
    await cache.Put(cache_pb2.CachePutRequest(key="s", entry=entry(90)))
    await cache.Get(cache_pb2.CacheGetRequest(key="s"))
    await cache.Get(cache_pb2.CacheGetRequest(key="nope"))
    stats = await cache.GetStats(cache_pb2.CacheStatsRequest())
    redis = stats.tiers["redis"]
    assert (redis.hits, redis.misses, redis.writes) == (1, 1, 1)
    assert stats.compute_seconds_saved_total == pytest.approx(2.5)
    assert stats.redis_used_memory_bytes > 0 and not stats.degraded


async def test_redis_down_reads_are_misses_and_health_says_not_serving(
    redis_server: RedisServer, redis_url: str
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    settings = settings_for(redis_url, None)  # Redis is the only tier
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = cache_pb2_grpc.CacheStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            redis_server.stop()
            try:
                got = await stub.Get(cache_pb2.CacheGetRequest(key="x"), timeout=1)
                assert not got.hit
                await host.check_now()
                status = await health.Check(health_pb2.HealthCheckRequest(service=""))
                assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
                assert (await stub.GetStats(cache_pb2.CacheStatsRequest())).degraded
            finally:
                redis_server.start()
            await host.check_now()
            status = await health.Check(health_pb2.HealthCheckRequest(service=""))
            assert status.status == health_pb2.HealthCheckResponse.SERVING


async def test_with_dynamodb_a_redis_outage_keeps_serving_from_l2(
    redis_server: RedisServer, redis_url: str, aws_env: MotoServer
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    settings = settings_for(redis_url, aws_env)
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = cache_pb2_grpc.CacheStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            await stub.Put(cache_pb2.CachePutRequest(key="both", entry=entry(95)))
            redis_server.stop()
            try:
                got = await stub.Get(cache_pb2.CacheGetRequest(key="both"), timeout=2)
                assert got.hit and got.source == types_pb2.CACHE_SOURCE_DYNAMODB
                await host.check_now()
                status = await health.Check(health_pb2.HealthCheckRequest(service=""))
                assert status.status == health_pb2.HealthCheckResponse.SERVING
                stats = await stub.GetStats(cache_pb2.CacheStatsRequest())
                assert stats.degraded and dict(stats.tiers_up) == {
                    "redis": False,
                    "dynamodb": True,
                }
                assert stats.tiers["dynamodb"].hits == 1 and stats.redis_used_memory_bytes == -1
            finally:
                redis_server.start()


async def test_metrics_export_per_tier_counters(redis_url: str, aws_env: MotoServer) -> None:
    settings = settings_for(redis_url, aws_env)
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = cache_pb2_grpc.CacheStub(channel)
            await stub.Put(cache_pb2.CachePutRequest(key="m", entry=entry(95)))
            await stub.Get(cache_pb2.CacheGetRequest(key="m"))
            await stub.Get(cache_pb2.CacheGetRequest(key="absent"))
        value = host.registry.get_sample_value
        assert value("oppsuite_cache_lookups_total", {"tier": "redis", "result": "hit"}) == 1
        assert value("oppsuite_cache_lookups_total", {"tier": "redis", "result": "miss"}) == 1
        assert value("oppsuite_cache_lookups_total", {"tier": "dynamodb", "result": "miss"}) == 1
        assert value("oppsuite_cache_writes_total", {"tier": "dynamodb"}) == 1
        assert value("oppsuite_cache_tier_up", {"tier": "dynamodb"}) == 1
        assert value("oppsuite_cache_compute_seconds_saved_total") == pytest.approx(2.5)
        written = value("oppsuite_cache_bytes_total", {"tier": "redis", "op": "written"})
        assert written is not None and written > 0


async def test_stats_report_entries_per_tier_from_the_background_census(
    redis_url: str, aws_env: MotoServer
) -> None:
    settings = replace(settings_for(redis_url, aws_env), census=CensusPolicy(interval_s=0.2))
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = cache_pb2_grpc.CacheStub(channel)
            for key in ("c1", "c2", "c3"):
                await stub.Put(cache_pb2.CachePutRequest(key=key, entry=entry(90)))
            for _ in range(100):
                stats = await stub.GetStats(cache_pb2.CacheStatsRequest())
                if stats.entries == 3:
                    break
                await asyncio.sleep(0.05)
            assert stats.entries == 3
            assert stats.tiers["redis"].entries == 3 and stats.tiers["dynamodb"].entries == 3
