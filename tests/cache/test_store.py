from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from services.cache.envelope import Codec
from services.cache.errors import TierUnavailable
from services.cache.redis_tier import RedisTier
from services.cache.store import CacheStore, StoreOptions
from services.cache.tier import TierStats
from services.cache.ttl import TtlPolicy
from services.common.breaker import CircuitBreaker
from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import cache_pb2, types_pb2
from tests.cache.conftest import Clock
from tests.cache.test_envelope import typical_entry
from tests.conftest import RedisServer

KEY = "opp:v1:" + "ab" * 32
PREFIXED = "oppsuite:cache:{" + KEY + "}"
NOW = 1_750_000_000.0


def core(stats: TierStats) -> TierStats:
    """The counters without byte totals (which depend on the encoding)."""
    return replace(stats, bytes_read=0, bytes_written=0)


@pytest.fixture
def wall() -> Clock:
    return Clock(NOW)


@pytest.fixture
def mono() -> Clock:
    return Clock(100.0)


@pytest.fixture
async def tier(redis_url: str, mono: Clock) -> AsyncIterator[RedisTier]:
    redis_tier = RedisTier(
        redis_url, breaker=CircuitBreaker(failure_threshold=3, cool_down_s=5, clock=mono)
    )
    yield redis_tier
    await redis_tier.aclose()


@pytest.fixture
def store(tier: RedisTier, wall: Clock) -> CacheStore:
    return CacheStore(tier, TtlPolicy(), wall)


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def small_entry(score: int = 92, compute_ms: float = 2500.0) -> cache_pb2.CacheEntry:
    analysis = types_pb2.Analysis(confidence=types_pb2.CONFIDENCE_HIGH, confidence_score=score)
    return cache_pb2.CacheEntry(analysis=analysis, sql="SELECT 1", compute_ms=compute_ms)


async def test_round_trip_stamps_times_and_sets_ttl_in_redis(
    store: CacheStore, raw: aioredis.Redis
) -> None:
    entry = small_entry(score=85)
    put = await store.put(KEY, entry)
    expected_ttl = TtlPolicy().ttl_for(85)
    assert put.stored and put.ttl_s == pytest.approx(expected_ttl)
    assert abs(await raw.pttl(PREFIXED) - expected_ttl * 1000) < 1000
    assert entry.created_at_unix == 0  # the caller's message is not modified

    got = await store.get(KEY)
    assert got.hit and got.source == "redis" and not got.degraded
    assert got.entry is not None
    assert got.entry.created_at_unix == NOW
    assert got.entry.expires_at_unix == pytest.approx(NOW + expected_ttl)
    assert got.entry.analysis == entry.analysis


async def test_miss_for_absent_key(store: CacheStore) -> None:
    got = await store.get(KEY)
    assert not got.hit and got.entry is None and got.source is None and not got.degraded
    assert core(store.stats().tiers["redis"]) == TierStats(misses=1)


async def test_entry_past_expiry_is_filtered(store: CacheStore, wall: Clock) -> None:
    put = await store.put(KEY, small_entry())
    wall.now += put.ttl_s  # expires_at <= now: gone, though Redis still holds it
    got = await store.get(KEY)
    assert not got.hit
    assert core(store.stats().tiers["redis"]) == TierStats(misses=1, writes=1, expired_filtered=1)


@pytest.mark.parametrize(("codec", "marker"), [("zstd", b"\x03"), ("zlib", b"\x02")])
async def test_large_entry_is_compressed_in_redis_with_the_configured_codec(
    tier: RedisTier, wall: Clock, raw: aioredis.Redis, codec: Codec, marker: bytes
) -> None:
    store = CacheStore(tier, TtlPolicy(), wall, options=StoreOptions(compression=codec))
    entry = typical_entry()
    await store.put(KEY, entry)
    stored = await raw.get(PREFIXED)
    assert stored is not None and stored[:1] == marker
    assert len(stored) < len(entry.SerializeToString()) / 2
    got = await store.get(KEY)
    assert got.entry is not None and got.entry.analysis == entry.analysis


async def test_corrupt_value_is_a_counted_miss(store: CacheStore, raw: aioredis.Redis) -> None:
    await raw.set(PREFIXED, b"\x02garbage")
    got = await store.get(KEY)
    assert not got.hit and not got.degraded
    assert core(store.stats().tiers["redis"]) == TierStats(misses=1, errors=1)


@pytest.mark.parametrize(
    "entry",
    [
        cache_pb2.CacheEntry(sql="SELECT 1", compute_ms=10),
        cache_pb2.CacheEntry(analysis=types_pb2.Analysis(findings="no confidence given")),
    ],
    ids=["no-analysis", "no-confidence"],
)
async def test_entries_without_a_usable_analysis_are_not_stored(
    store: CacheStore, raw: aioredis.Redis, entry: cache_pb2.CacheEntry
) -> None:
    put = await store.put(KEY, entry)
    assert not put.stored
    assert await raw.exists(PREFIXED) == 0
    assert store.stats().tiers["redis"].writes == 0


async def test_level_without_score_is_stored_with_the_low_ttl(store: CacheStore) -> None:
    entry = cache_pb2.CacheEntry(analysis=types_pb2.Analysis(confidence=types_pb2.CONFIDENCE_LOW))
    put = await store.put(KEY, entry)
    assert put.stored and put.ttl_s == TtlPolicy().low_ttl_s


async def test_validation_errors_shorten_the_ttl(store: CacheStore) -> None:
    entry = small_entry(score=95)
    entry.analysis.validation_errors.append("launch_date missing")
    put = await store.put(KEY, entry)
    assert put.stored and put.ttl_s == TtlPolicy().low_ttl_s


@pytest.mark.parametrize("bad", ["", "k" * 257, "has space", "tab\tkey", "caf\u00e9"])
async def test_invalid_keys_are_rejected(store: CacheStore, bad: str) -> None:
    for call in (store.get(bad), store.put(bad, small_entry())):
        with pytest.raises(InvalidInput) as caught:
            await call
        assert [v.field for v in caught.value.violations] == ["key"]


async def test_invalidate_removes_and_counts(store: CacheStore) -> None:
    other = KEY[:-1] + "c"
    await store.put(KEY, small_entry())
    await store.put(other, small_entry())
    assert await store.invalidate([KEY, KEY, "opp:v1:missing"]) == 1
    assert not (await store.get(KEY)).hit
    assert (await store.get(other)).hit
    with pytest.raises(InvalidInput) as caught:
        await store.invalidate([KEY, "bad key"])
    assert caught.value.violations == [
        FieldViolation("keys[1]", "must be printable ASCII without spaces")
    ]


async def test_stats_count_hits_and_compute_saved(store: CacheStore) -> None:
    await store.put(KEY, small_entry(compute_ms=2500))
    for _ in range(3):
        assert (await store.get(KEY)).hit
    await store.get("opp:v1:missing")
    stats = store.stats()
    assert list(stats.tiers) == ["redis"]
    assert core(stats.tiers["redis"]) == TierStats(hits=3, misses=1, writes=1)
    assert stats.tiers["redis"].bytes_read == 3 * stats.tiers["redis"].bytes_written > 0
    assert stats.compute_seconds_saved_total == pytest.approx(7.5)
    assert stats.entries == 0 and not stats.degraded


async def test_reads_degrade_to_fast_misses_while_redis_is_down(
    store: CacheStore, redis_server: RedisServer, mono: Clock
) -> None:
    await store.put(KEY, small_entry())
    redis_server.stop()
    try:
        for _ in range(10):
            started = time.monotonic()
            got = await store.get(KEY)
            assert time.monotonic() - started < 0.2
            assert not got.hit and got.degraded
        assert (await store.put(KEY, small_entry())).stored is False
        with pytest.raises(TierUnavailable):
            await store.invalidate([KEY])
        stats = store.stats()
        assert stats.degraded
        assert core(stats.tiers["redis"]) == TierStats(misses=10, errors=12, writes=1)
    finally:
        redis_server.start()
    mono.now += 5  # past the breaker's cool-down: the next call probes Redis
    assert (await store.put(KEY, small_entry())).stored
    assert (await store.get(KEY)).hit
    assert not store.stats().degraded
