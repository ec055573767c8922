"""Invalidate of chosen tiers only, over a real Redis and DynamoDB (moto server): the store
directly, then the service over real gRPC with its status codes and field violations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis

from services.cache.app import build
from services.cache.dynamo_tier import DynamoTier
from services.cache.errors import TierNotConfigured
from services.cache.redis_tier import INVALIDATION_CHANNEL, RedisTier
from services.cache.store import CacheStore
from services.cache.ttl import TtlPolicy
from services.client import field_violations
from services.common.errors import InvalidInput
from services.common.gen import cache_pb2, cache_pb2_grpc, types_pb2
from tests.cache.conftest import Clock, settings_for
from tests.conftest import MotoServer
from tests.servicers import running

HOUR = 3600.0
REDIS, DYNAMODB = types_pb2.CACHE_SOURCE_REDIS, types_pb2.CACHE_SOURCE_DYNAMODB


def entry(score: int = 95) -> cache_pb2.CacheEntry:
    analysis = types_pb2.Analysis(
        predicted_arr_usd=1_000_000, confidence=types_pb2.CONFIDENCE_HIGH, confidence_score=score
    )
    return cache_pb2.CacheEntry(analysis=analysis, compute_ms=3000.0)


def l1_key(key: str) -> str:
    return "oppsuite:cache:{" + key + "}"


async def announced(raw: aioredis.Redis, action: object) -> list[str]:
    """The keys published on the near-cache invalidation channel while ``action`` ran."""
    pubsub = raw.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(INVALIDATION_CHANNEL)
    try:
        await action  # type: ignore[misc]
        keys: list[str] = []
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                keys.append(message["data"].decode())
        return keys
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_evicting_only_redis_keeps_dynamodb_and_the_next_reads_promote(
    store: CacheStore, l2: DynamoTier, raw: aioredis.Redis, wall: Clock
) -> None:
    await store.put("k", entry(95))  # 4 h in both tiers
    wall.now += HOUR
    keys = await announced(raw, store.invalidate(["k"], ["redis"]))
    assert keys == ["k"]  # near caches drop their copy of an evicted L1 entry
    assert await raw.exists(l1_key("k")) == 0
    assert (await l2.get("k")).status == "hit"
    first = await store.get("k")
    assert first.hit and first.source == "dynamodb"
    # Promoted with the remaining L2 lifetime (3 h), never a fresh 4 h.
    assert 3 * HOUR * 1000 - 5000 < await raw.pttl(l1_key("k")) <= 3 * HOUR * 1000
    second = await store.get("k")
    assert second.hit and second.source == "redis"
    assert second.entry is not None and first.entry is not None
    assert second.entry.expires_at_unix == first.entry.expires_at_unix
    assert store.stats().tiers["redis"].promotions == 1


async def test_evicting_only_dynamodb_keeps_redis_and_announces_nothing(
    store: CacheStore, l2: DynamoTier, raw: aioredis.Redis
) -> None:
    await store.put("k", entry(95))
    assert await announced(raw, store.invalidate(["k"], ["dynamodb"])) == []
    assert (await l2.get("k")).status == "miss"
    got = await store.get("k")
    assert got.hit and got.source == "redis"
    await raw.delete(l1_key("k"))
    assert not (await store.get("k")).hit  # nothing left to promote from


async def test_every_tier_is_the_default_and_the_same_as_naming_both(
    store: CacheStore, l2: DynamoTier, raw: aioredis.Redis
) -> None:
    for tiers in ((), ("redis", "dynamodb")):
        await store.put("k", entry(95))
        assert await store.invalidate(["k"], tiers) == 1
        assert await raw.exists(l1_key("k")) == 0
        assert (await l2.get("k")).status == "miss"


async def test_unknown_and_unconfigured_tiers_are_refused_before_anything_is_removed(
    store: CacheStore, l1: RedisTier, raw: aioredis.Redis, wall: Clock
) -> None:
    await store.put("k", entry(95))
    with pytest.raises(InvalidInput) as bad:
        await store.invalidate(["k"], ["redis", "memcached"])
    assert [v.field for v in bad.value.violations] == ["tiers[1]"]
    assert await raw.exists(l1_key("k")) == 1
    redis_only = CacheStore(l1, TtlPolicy(), wall)
    with pytest.raises(TierNotConfigured, match="without the dynamodb tier"):
        await redis_only.invalidate(["k"], ["dynamodb"])
    assert await raw.exists(l1_key("k")) == 1


# --- over gRPC ------------------------------------------------------------------------


@pytest.fixture
async def cache(redis_url: str, aws_env: MotoServer) -> AsyncIterator[cache_pb2_grpc.CacheStub]:
    # No start-up warming: it copies DynamoDB into Redis in the background, and would
    # race the evictions these tests make and observe.
    settings = settings_for(redis_url, aws_env, CACHE_WARM_FROM_L2_ON_START="false")
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            yield cache_pb2_grpc.CacheStub(channel)


async def test_invalidate_redis_only_then_get_from_dynamodb_then_from_redis(
    cache: cache_pb2_grpc.CacheStub,
) -> None:
    put = await cache.Put(cache_pb2.CachePutRequest(key="opp:v1:t", entry=entry(95)))
    assert put.stored
    reply = await cache.Invalidate(
        cache_pb2.CacheInvalidateRequest(keys=["opp:v1:t"], tiers=[REDIS])
    )
    assert reply.removed == 1
    first = await cache.Get(cache_pb2.CacheGetRequest(key="opp:v1:t"))
    assert first.hit and first.source == DYNAMODB
    second = await cache.Get(cache_pb2.CacheGetRequest(key="opp:v1:t"))
    assert second.hit and second.source == REDIS
    assert second.entry.expires_at_unix == first.entry.expires_at_unix
    assert first.entry.expires_at_unix - first.entry.created_at_unix == pytest.approx(4 * HOUR)
    stats = await cache.GetStats(cache_pb2.CacheStatsRequest())
    assert stats.tiers["redis"].promotions == 1
    await cache.Invalidate(cache_pb2.CacheInvalidateRequest(keys=["opp:v1:t"]))
    assert not (await cache.Get(cache_pb2.CacheGetRequest(key="opp:v1:t"))).hit


@pytest.mark.parametrize(
    ("tiers", "fields"),
    [
        ([types_pb2.CACHE_SOURCE_NEAR], {"tiers[0]"}),
        ([REDIS, types_pb2.CACHE_SOURCE_MISS, 99], {"tiers[1]", "tiers[2]"}),
        ([types_pb2.CACHE_SOURCE_UNSPECIFIED], {"tiers[0]"}),
    ],
)
async def test_a_tier_that_is_not_a_tier_is_invalid_argument_with_field_violations(
    cache: cache_pb2_grpc.CacheStub, tiers: list[int], fields: set[str]
) -> None:
    await cache.Put(cache_pb2.CachePutRequest(key="kept", entry=entry(95)))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await cache.Invalidate(cache_pb2.CacheInvalidateRequest(keys=["kept"], tiers=tiers))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = field_violations(raised.value)
    assert set(found) == fields
    assert all("CACHE_SOURCE_REDIS or CACHE_SOURCE_DYNAMODB" in d for d in found.values())
    assert "value 99" in found.get("tiers[2]", "value 99")
    got = await cache.Get(cache_pb2.CacheGetRequest(key="kept"))
    assert got.hit and got.source == REDIS  # nothing was removed


async def test_evicting_dynamodb_on_a_redis_only_cache_is_failed_precondition(
    redis_url: str,
) -> None:
    settings = settings_for(redis_url, None)
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = cache_pb2_grpc.CacheStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.Invalidate(
                    cache_pb2.CacheInvalidateRequest(keys=["k"], tiers=[DYNAMODB]), timeout=5
                )
            assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "dynamodb" in (raised.value.details() or "")
            reply = await stub.Invalidate(
                cache_pb2.CacheInvalidateRequest(keys=["k"], tiers=[REDIS]), timeout=5
            )
            assert reply.removed == 0


async def test_concurrent_readers_during_a_redis_eviction_all_hit(
    store: CacheStore,
) -> None:
    """Evicting L1 while reads run never turns a cached entry into a miss."""
    await store.put("busy", entry(95))

    async def reads() -> list[bool]:
        return [(await store.get("busy")).hit for _ in range(20)]

    results, _ = await asyncio.gather(reads(), store.invalidate(["busy"], ["redis"]))
    assert all(results)
