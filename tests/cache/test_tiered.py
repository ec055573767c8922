"""The two-tier store over a real Redis and DynamoDB (moto server): promotion,
expiry, conditional writes, and both degraded modes with real outages."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from services.cache.dynamo_tier import DynamoTier
from services.cache.errors import TierUnavailable
from services.cache.metrics import MonitorSampler
from services.cache.redis_tier import RedisTier
from services.cache.store import CacheStore, StoreOptions
from services.cache.ttl import TtlPolicy
from services.common.breaker import CircuitBreaker
from services.common.gen import cache_pb2, types_pb2
from services.common.telemetry import Telemetry
from tests.cache.conftest import Clock, make_l2
from tests.conftest import MotoServer, RedisServer

HOUR = 3600.0


def entry(
    score: int = 95, compute_ms: float = 4000.0, arr: int = 1_000_000
) -> cache_pb2.CacheEntry:
    analysis = types_pb2.Analysis(
        predicted_arr_usd=arr, confidence=types_pb2.CONFIDENCE_HIGH, confidence_score=score
    )
    return cache_pb2.CacheEntry(analysis=analysis, compute_ms=compute_ms)


def l1_key(key: str) -> str:
    return "oppsuite:cache:{" + key + "}"


async def test_put_writes_both_tiers(
    store: CacheStore, l2: DynamoTier, raw: aioredis.Redis
) -> None:
    put = await store.put("k", entry(95))
    assert put.stored and put.ttl_s == 4 * HOUR
    assert await raw.exists(l1_key("k")) == 1
    assert (await l2.get("k")).status == "hit"


async def test_l2_hit_is_promoted_with_the_remaining_ttl(
    store: CacheStore, raw: aioredis.Redis, wall: Clock
) -> None:
    await store.put("k", entry(95))  # 4 h in both tiers
    await raw.delete(l1_key("k"))  # e.g. evicted by Redis under memory pressure
    wall.now += 1 * HOUR
    got = await store.get("k")
    assert got.hit and got.source == "dynamodb"
    assert abs(await raw.pttl(l1_key("k")) - 3 * HOUR * 1000) < 5000
    assert store.stats().tiers["redis"].promotions == 1
    again = await store.get("k")
    assert again.hit and again.source == "redis"
    assert again.entry is not None and again.entry.analysis.predicted_arr_usd == 1_000_000


async def test_a_hit_decodes_into_the_callers_message_from_either_tier(
    store: CacheStore, raw: aioredis.Redis
) -> None:
    # The servicer passes its reply's entry field so a hit is not copied into it.
    await store.put("k", entry(95, arr=7))
    await raw.delete(l1_key("k"))
    for tier in ("dynamodb", "redis"):  # the first read promotes
        reply = cache_pb2.CacheGetResponse()
        got = await store.get("k", into=reply.entry)
        assert got.hit and got.source == tier
        assert got.entry is reply.entry
        assert reply.entry.analysis.predicted_arr_usd == 7
        assert reply.entry.size_bytes > 0 and reply.entry.hit_count >= 1
    missed = cache_pb2.CacheGetResponse()
    assert not (await store.get("absent", into=missed.entry)).hit


async def test_promotion_ttl_is_capped(
    l1: RedisTier, l2: DynamoTier, wall: Clock, raw: aioredis.Redis
) -> None:
    capped = CacheStore(l1, TtlPolicy(), wall, l2=l2, options=StoreOptions(l1_max_ttl_s=600))
    await capped.put("k", entry(95))
    assert await raw.pttl(l1_key("k")) <= 600_000
    await raw.delete(l1_key("k"))
    assert (await capped.get("k")).source == "dynamodb"
    assert 590_000 < await raw.pttl(l1_key("k")) <= 600_000


async def test_expired_l2_items_are_ignored_single_and_batch(
    store: CacheStore, raw: aioredis.Redis, wall: Clock
) -> None:
    await store.put("old", entry(50))  # 30 min
    await store.put("new", entry(95))  # 4 h
    await raw.delete(l1_key("old"), l1_key("new"))
    wall.now += HOUR  # "old" is past its expiry; DynamoDB would still return it
    got = await store.get("old")
    assert not got.hit and got.expired
    results = await store.batch_get(["old", "new", "old", "none"])
    assert [r.hit for r in results] == [False, True, False, False]
    assert results[1].source == "dynamodb"
    assert store.stats().tiers["dynamodb"].expired_filtered == 3


async def test_lower_confidence_never_replaces_a_better_entry(store: CacheStore) -> None:
    assert (await store.put("k", entry(95, arr=1))).stored
    worse = await store.put("k", entry(60, arr=2))
    assert not worse.stored and worse.rejected
    got = await store.get("k")
    assert got.entry is not None and got.entry.analysis.predicted_arr_usd == 1
    batch = await store.batch_put([("k", entry(60, arr=3)), ("k2", entry(70))])
    assert [(r.stored, r.rejected) for r in batch] == [(False, True), (True, False)]


async def test_redis_killed_then_restarted(
    store: CacheStore, redis_server: RedisServer, mono: Clock, raw: aioredis.Redis
) -> None:
    await store.put("before", entry(95))
    redis_server.stop()
    try:
        for _ in range(5):
            started = time.monotonic()
            got = await store.get("before")
            assert got.hit and got.source == "dynamodb" and got.degraded
            assert time.monotonic() - started < 1.0
        put = await store.put("during", entry(92))
        assert put.stored and not put.queued  # in L2; the L1 write was skipped
        assert (await store.get("during")).source == "dynamodb"
        stats = store.stats()
        assert stats.degraded and stats.tiers_up == {"redis": False, "dynamodb": True}
        assert await store.check_tiers()  # one tier is enough to serve
    finally:
        redis_server.start()
    mono.now += 5  # the breaker's cool-down: the next call probes Redis again
    got = await store.get("during")
    assert got.source == "dynamodb"  # the restarted Redis is empty; promoted now
    assert (await store.get("during")).source == "redis"
    assert (await store.put("after", entry(95))).stored
    assert await raw.exists(l1_key("after")) == 1
    assert not store.stats().degraded


async def test_dynamodb_down_serves_from_redis_and_flushes_queued_writes(
    own_moto: MotoServer, l1: RedisTier, wall: Clock, mono: Clock
) -> None:
    l2 = make_l2(own_moto.endpoint, wall, mono, timeout_s=0.5)
    store = CacheStore(l1, TtlPolicy(), wall, l2=l2, options=StoreOptions(l2_queue_max=3))
    try:
        assert await l2.ping()
        await store.put("cached", entry(95))
        own_moto.stop()
        started = time.monotonic()
        got = await store.get("cached")
        assert got.hit and got.source == "redis"
        results = [await store.put(f"q{i}", entry(90)) for i in range(5)]
        assert all(r.stored and r.queued for r in results)
        assert time.monotonic() - started < 10
        stats = store.stats()
        assert (stats.l2_write_queue_depth, stats.l2_writes_dropped) == (3, 2)
        assert stats.tiers_up["dynamodb"] is False and stats.degraded
        assert await store.flush_l2_once() == 0  # still down: everything stays queued
        assert store.stats().l2_write_queue_depth == 3
        # An invalidation must not be undone by the queued write flushed later.
        with pytest.raises(TierUnavailable):
            await store.invalidate(["q4"])
        assert store.stats().l2_write_queue_depth == 2

        own_moto.start()  # a fresh moto: the table is gone too
        mono.now += 5
        assert await l2.ping()  # recreates the table
        await store.start()  # the background flusher
        for _ in range(400):  # up to 20 s on a loaded machine
            if not store.stats().l2_write_queue_depth:
                break
            await asyncio.sleep(0.05)
        assert store.stats().l2_write_queue_depth == 0
        statuses = [(await l2.get(f"q{i}")).status for i in range(5)]
        assert statuses == ["miss", "miss", "hit", "hit", "miss"]
        assert store.stats().l2_writes_flushed == 2
    finally:
        await store.stop()
        await l2.aclose()


async def test_a_silent_dynamodb_never_stalls_a_read(
    l1: RedisTier, wall: Clock, mono: Clock
) -> None:
    """A server that accepts connections and never answers: the read is a miss
    within the tier's budget, not a hang."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    l2 = make_l2(f"http://127.0.0.1:{port}", wall, mono, timeout_s=0.15)
    store = CacheStore(l1, TtlPolicy(), wall, l2=l2)
    try:
        for _ in range(3):
            started = time.monotonic()
            got = await store.get("k")
            assert not got.hit and got.degraded
            assert time.monotonic() - started < 0.6
    finally:
        await l2.aclose()
        server.close()


async def test_a_large_batch_fits_a_small_redis_pool(
    redis_url: str, l2: DynamoTier, wall: Clock
) -> None:
    small = RedisTier(redis_url, breaker=CircuitBreaker(failure_threshold=1), max_connections=2)
    store = CacheStore(small, TtlPolicy(), wall, l2=l2)
    try:
        keys = [f"b{i}" for i in range(300)]
        await store.batch_put([(k, entry(95)) for k in keys[::2]])
        results = await store.batch_get([*keys, "b0"])
        assert [r.hit for r in results] == [i % 2 == 0 for i in range(300)] + [True]
        assert {r.source for r in results if r.hit} == {"redis"}
        redis_stats = store.stats().tiers["redis"]
        assert (redis_stats.errors, redis_stats.hits, redis_stats.misses) == (0, 151, 150)
    finally:
        await small.aclose()


async def test_tier_counters_reach_the_monitor_as_deltas(store: CacheStore) -> None:
    telemetry = Telemetry()
    sample = MonitorSampler(store, telemetry)
    await store.put("k", entry(95))
    await store.get("k")
    await store.get("absent")
    sample()

    def counters() -> dict[tuple[str, str], float]:
        report = telemetry.take_report("cache", "test", allow_empty=True)
        assert report is not None
        return {
            (c.labels["tier"], c.labels["result"]): c.value
            for c in report.counters
            if c.name == "cache_tier_total"
        }

    assert counters() == {
        ("redis", "hit"): 1,
        ("redis", "miss"): 1,
        ("dynamodb", "miss"): 1,
    }
    await store.get("k")
    sample()
    assert counters() == {("redis", "hit"): 1}  # only what happened since the last report
