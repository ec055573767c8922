"""Shared hit counts (two replicas over one real Redis) and the entry census (real
Redis and DynamoDB on moto's server)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from services.cache.census import CensusPolicy, EntryCensus
from services.cache.dynamo_tier import DynamoTier
from services.cache.hits import HitTally
from services.cache.maintenance import Housekeeper, WarmPolicy
from services.cache.redis_tier import RedisTier
from services.cache.store import CacheStore, StoreOptions
from services.cache.ttl import TtlPolicy
from services.common.breaker import CircuitBreaker
from tests.cache.conftest import dynamodb, unique_table
from tests.cache.test_tiered import entry
from tests.conftest import MotoServer, RedisServer


@pytest.fixture
async def tiers(redis_url: str) -> AsyncIterator[tuple[RedisTier, RedisTier]]:
    """Two replicas' Redis tiers: separate pools, one Redis."""
    first, second = (
        RedisTier(redis_url, breaker=CircuitBreaker()),
        RedisTier(redis_url, breaker=CircuitBreaker()),
    )
    yield first, second
    await first.aclose()
    await second.aclose()


def replica(tier: RedisTier, l2: DynamoTier | None = None) -> CacheStore:
    return CacheStore(tier, TtlPolicy(), time.time, l2=l2, options=StoreOptions(xfetch_beta=0))


async def test_hits_on_every_replica_add_up_in_the_shared_count(
    tiers: tuple[RedisTier, RedisTier],
) -> None:
    a, b = replica(tiers[0]), replica(tiers[1])
    await a.put("k", entry(95))
    for _ in range(3):
        assert (await a.get("k")).hit
    for _ in range(2):
        assert (await b.get("k")).hit
    # Unflushed, each replica knows only its own hits.
    got = await b.get("k")
    assert got.entry is not None and got.entry.hit_count == 3
    assert await a.hits.flush() == 3
    assert await b.hits.flush() == 3  # its INCRBY answers 6: both replicas' hits
    got = await b.get("k")
    assert got.entry is not None and got.entry.hit_count == 7  # 6 shared + this one
    got = await a.get("k")
    # a last heard the total (3) at its own flush; it learns b's hits at its next one.
    assert got.entry is not None and got.entry.hit_count == 4
    assert await a.hits.flush() == 1
    got = await a.get("k")
    # 7 flushed (a: 3 + 1, b: 3; b's last hit is not flushed yet) + this one.
    assert got.entry is not None and got.entry.hit_count == 8
    assert a.hits.flushed == 4 and b.hits.flushed == 3
    assert await tiers[0].hit_counts(["k", "never-read"]) == [7, 0]


async def test_hit_counters_expire_with_the_longest_entry_lifetime(
    tiers: tuple[RedisTier, RedisTier], redis_url: str
) -> None:
    store = CacheStore(tiers[0], TtlPolicy(), time.time, options=StoreOptions(l1_max_ttl_s=600))
    await store.put("k", entry(95))
    await store.get("k")
    await store.hits.flush()
    async with aioredis.Redis.from_url(redis_url) as raw:
        ttl_ms = await raw.pttl("oppsuite:hits:{k}")
    assert 590_000 < ttl_ms <= 600_000


async def test_a_hit_flush_while_redis_is_down_is_dropped_and_counted(
    tiers: tuple[RedisTier, RedisTier], redis_server: RedisServer
) -> None:
    store = replica(tiers[0])
    await store.put("k", entry(95))
    await store.get("k")
    await store.get("k")
    redis_server.stop()
    try:
        assert await store.hits.flush() == 0
    finally:
        redis_server.start()
    assert store.hits.dropped == 2 and store.hits.flushed == 0
    assert store.hits.pending("k") == 0  # nothing piles up meanwhile


def test_pending_hits_are_bounded() -> None:
    tally = HitTally(None, ttl_s=60, max_pending=2)
    for key in ("a", "b", "c", "a"):
        tally.record(key)
    assert (tally.pending("a"), tally.pending("b"), tally.pending("c")) == (2, 1, 0)
    assert tally.dropped == 1


async def test_cleanup_scores_with_every_replicas_hits(
    tiers: tuple[RedisTier, RedisTier],
) -> None:
    a, b = replica(tiers[0]), replica(tiers[1])
    await a.put("popular", entry(60))
    await a.put("ignored", entry(60))
    for _ in range(40):
        await b.get("popular")
    await b.hits.flush()
    report = await Housekeeper(a, WarmPolicy(), analyzer=None).cleanup(apply=False, min_score=100)
    hits = {c.facts.key: c.facts.hits for c in report.candidates}
    assert hits == {"popular": 40, "ignored": 0}


async def test_census_counts_both_tiers(redis_url: str, aws_env: MotoServer) -> None:
    l1 = RedisTier(redis_url, breaker=CircuitBreaker())
    l2 = DynamoTier(dynamodb(aws_env.endpoint), unique_table(), breaker=CircuitBreaker())
    try:
        assert await l2.ping()
        store = replica(l1, l2)
        for i in range(5):
            await store.put(f"k{i}", entry(95))
        await l1.delete(["k0"])  # L1 holds fewer entries than L2
        assert store.stats().entries == 0  # before the first census
        counts = await EntryCensus(store, CensusPolicy()).count_once()
        assert counts == {"redis": 4, "dynamodb": 5}
        stats = store.stats()
        assert stats.entries == 5
        assert stats.tiers["redis"].entries == 4 and stats.tiers["dynamodb"].entries == 5
        limited = await EntryCensus(store, CensusPolicy(redis_limit=2)).count_once()
        assert limited["redis"] == 2
    finally:
        await l1.aclose()
        await l2.aclose()
