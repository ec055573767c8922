"""The Redis tier and the whole cache service against a real 3-node Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from services.cache.app import build
from services.cache.redis_tier import RedisTier
from services.common.breaker import CircuitBreaker
from services.common.gen import cache_pb2, cache_pb2_grpc, types_pb2
from tests.cache.conftest import RedisCluster, settings_for
from tests.servicers import running

KEYS = [f"opp:v1:{i:04x}" for i in range(60)]


@pytest.fixture
async def tier(redis_cluster: RedisCluster) -> AsyncIterator[RedisTier]:
    redis = RedisTier(
        redis_cluster.url,
        breaker=CircuitBreaker(),
        cluster=True,
        socket_timeout_s=1.0,
        connect_timeout_s=1.0,
    )
    yield redis
    await redis.delete([*KEYS, "lk"])
    await redis.aclose()


async def test_entries_spread_over_the_nodes_and_scan_finds_them_all(tier: RedisTier) -> None:
    for key in KEYS:
        await tier.set(key, f"v{key}".encode(), 60)
    assert [await tier.get(k) for k in KEYS] == [f"v{k}".encode() for k in KEYS]
    found = {key async for key in tier.scan_keys("opp:v1:*", count=10)}
    assert found == set(KEYS)
    assert await tier.used_memory() > 0
    assert await tier.delete(KEYS[:10]) == 10


async def test_lease_and_entry_share_a_slot_so_lua_works(tier: RedisTier) -> None:
    first = await tier.lease("lk", ttl_ms=5000, holder="a")
    assert first.granted
    assert not (await tier.lease("lk", ttl_ms=5000, holder="b")).granted
    await tier.set("lk", b"\x01entry", 60)
    assert await tier.probe("lk") == (b"\x01entry", True)
    assert await tier.release("lk", first.token)
    assert await tier.probe("lk") == (b"\x01entry", False)


async def test_the_service_runs_on_a_cluster_url(redis_cluster: RedisCluster) -> None:
    url = "redis+cluster://" + redis_cluster.url.removeprefix("redis://")
    settings = settings_for(url, None, REDIS_TIMEOUT_MS="1000")
    assert settings.redis_cluster
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = cache_pb2_grpc.CacheStub(channel)
            analysis = types_pb2.Analysis(confidence_score=91)
            put = cache_pb2.CachePutRequest(
                key="svc", entry=cache_pb2.CacheEntry(analysis=analysis)
            )
            assert (await stub.Put(put)).stored
            got = await stub.Get(cache_pb2.CacheGetRequest(key="svc"))
            assert got.hit and got.source == types_pb2.CACHE_SOURCE_REDIS
            held = await stub.Lease(cache_pb2.CacheLeaseRequest(key="svc2", holder="x"))
            assert held.granted
            assert (
                await stub.Release(cache_pb2.CacheReleaseRequest(key="svc2", token=held.token))
            ).released
            stats = await stub.GetStats(cache_pb2.CacheStatsRequest())
            assert stats.redis_used_memory_bytes > 0
            await stub.Invalidate(cache_pb2.CacheInvalidateRequest(keys=["svc"]))


async def test_get_many_spans_slots_in_order(tier: RedisTier) -> None:
    for key in KEYS[::3]:
        await tier.set(key, key.encode(), 60)
    values = await tier.get_many(KEYS)
    assert values == [k.encode() if i % 3 == 0 else None for i, k in enumerate(KEYS)]


async def test_hit_flushes_and_census_work_across_slots(tier: RedisTier) -> None:
    for key in KEYS:
        await tier.set(key, b"v", ttl_s=60)
    counts = {key: i + 1 for i, key in enumerate(KEYS)}
    assert await tier.add_hits(counts, ttl_s=60) == list(counts.values())
    assert await tier.add_hits(counts, ttl_s=60) == [2 * n for n in counts.values()]
    assert await tier.hit_counts(KEYS) == [2 * n for n in counts.values()]
    assert await tier.count_entries(limit=10_000) == (len(KEYS), True)
